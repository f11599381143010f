"""Access control: who is calling (principals, API keys, authenticators), what each role may
do (permissions, the method table), and the audit log of what was changed."""
