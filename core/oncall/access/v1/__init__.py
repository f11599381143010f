"""Code generated from proto/oncall/access/v1/ by scripts/gen_protos.py."""
