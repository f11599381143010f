"""gRPC: the server (health, reflection), servicers, and the one error mapping."""
