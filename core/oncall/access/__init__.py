"""Code generated from proto/oncall/access/ by scripts/gen_protos.py."""
