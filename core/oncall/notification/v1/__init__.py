"""Code generated from proto/oncall/notification/v1/ by scripts/gen_protos.py."""
