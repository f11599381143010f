"""Code generated from proto/oncall/alerting/v1/ by scripts/gen_protos.py."""
