"""Code generated from proto/oncall/directory/v1/ by scripts/gen_protos.py."""
