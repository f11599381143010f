"""Who is calling and what they may do: principals, keys, roles and logins."""
