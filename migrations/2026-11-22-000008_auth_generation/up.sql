-- What authentication depends on changes rarely (a key revoked, a user deactivated, a logout)
-- and is read on every request, so the API caches resolved keys and tokens in process. This
-- counter is how every process learns, with one cheap read per request, that something may
-- have changed since it resolved an entry: each such change increments it in the changing
-- transaction (so the new value is visible exactly when the change is) and announces the new
-- value on the `wfops_auth` channel with what changed, so that processes can drop the affected
-- entries only. A process that misses a notification still sees the counter move.
CREATE TABLE auth_generation (
    id         boolean PRIMARY KEY DEFAULT true CHECK (id),
    generation bigint NOT NULL CHECK (generation >= 0)
);
INSERT INTO auth_generation (id, generation) VALUES (true, 0);

GRANT SELECT, UPDATE ON auth_generation TO wfops_app;
REVOKE INSERT, DELETE, TRUNCATE ON auth_generation FROM wfops_app;

-- Runs as the changing role (the app or the owner). The row lock taken by the UPDATE orders
-- concurrent changes: generations are committed, and so notified, in increasing order.
CREATE FUNCTION wfops_auth_changed(p_tenant uuid, p_user uuid, p_key_prefix text, p_jti text)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, public
AS $$
DECLARE
    g bigint;
BEGIN
    UPDATE public.auth_generation SET generation = generation + 1 RETURNING generation INTO g;
    PERFORM pg_notify('wfops_auth', json_build_object(
        'generation', g, 'tenant_id', p_tenant, 'user_id', p_user,
        'key_prefix', p_key_prefix, 'jti', p_jti)::text);
END
$$;
-- the trigger functions below call it as the changing role; bumping the counter is harmless
REVOKE ALL ON FUNCTION wfops_auth_changed(uuid, uuid, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wfops_auth_changed(uuid, uuid, text, text) TO wfops_app;

CREATE FUNCTION wfops_auth_api_key_changed() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public
AS $$
BEGIN
    PERFORM public.wfops_auth_changed(OLD.tenant_id, NULL, OLD.key_prefix, NULL);
    RETURN NULL;
END
$$;

CREATE FUNCTION wfops_auth_user_changed() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public
AS $$
BEGIN
    PERFORM public.wfops_auth_changed(OLD.tenant_id, OLD.id, NULL, NULL);
    RETURN NULL;
END
$$;

CREATE FUNCTION wfops_auth_tenant_changed() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public
AS $$
BEGIN
    PERFORM public.wfops_auth_changed(OLD.id, NULL, NULL, NULL);
    RETURN NULL;
END
$$;

CREATE FUNCTION wfops_auth_token_revoked() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public
AS $$
BEGIN
    PERFORM public.wfops_auth_changed(NEW.tenant_id, NULL, NULL, NEW.jti);
    RETURN NULL;
END
$$;

-- Only the columns authentication reads: recording a key's last use must not invalidate it.
CREATE TRIGGER api_keys_auth_changed AFTER UPDATE ON api_keys FOR EACH ROW
    WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at
          OR OLD.expires_at IS DISTINCT FROM NEW.expires_at
          OR OLD.role IS DISTINCT FROM NEW.role
          OR OLD.secret_hash IS DISTINCT FROM NEW.secret_hash
          OR OLD.key_prefix IS DISTINCT FROM NEW.key_prefix
          OR OLD.tenant_id IS DISTINCT FROM NEW.tenant_id)
    EXECUTE FUNCTION wfops_auth_api_key_changed();
CREATE TRIGGER api_keys_auth_deleted AFTER DELETE ON api_keys FOR EACH ROW
    EXECUTE FUNCTION wfops_auth_api_key_changed();

CREATE TRIGGER users_auth_changed AFTER UPDATE ON users FOR EACH ROW
    WHEN (OLD.role IS DISTINCT FROM NEW.role
          OR OLD.is_active IS DISTINCT FROM NEW.is_active
          OR OLD.is_platform_admin IS DISTINCT FROM NEW.is_platform_admin
          OR OLD.tenant_id IS DISTINCT FROM NEW.tenant_id)
    EXECUTE FUNCTION wfops_auth_user_changed();
CREATE TRIGGER users_auth_deleted AFTER DELETE ON users FOR EACH ROW
    EXECUTE FUNCTION wfops_auth_user_changed();

CREATE TRIGGER tenants_auth_changed AFTER UPDATE ON tenants FOR EACH ROW
    WHEN (OLD.is_active IS DISTINCT FROM NEW.is_active)
    EXECUTE FUNCTION wfops_auth_tenant_changed();
CREATE TRIGGER tenants_auth_deleted AFTER DELETE ON tenants FOR EACH ROW
    EXECUTE FUNCTION wfops_auth_tenant_changed();

CREATE TRIGGER revoked_tokens_auth_changed AFTER INSERT ON revoked_tokens FOR EACH ROW
    EXECUTE FUNCTION wfops_auth_token_revoked();
