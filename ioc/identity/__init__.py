"""Who someone is and what they may do: roles and their permissions (roles), accounts and their passwords
(accounts), wall screens' display tokens (tokens), the login rate limit (ratelimit) and the tables that keep
accounts and tokens (tables).

Nothing is imported here, so the web guard on every request imports `ioc.identity.roles` alone, without the
database or password hashing."""
