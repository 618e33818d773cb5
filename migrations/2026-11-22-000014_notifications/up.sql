-- Notifications (docs/notifications.md): the channels a tenant is told through and the log of
-- every delivery to them.

-- A channel: where a tenant's people are told (a signed webhook, a Slack incoming webhook, or
-- email recipients) and which events they want. `secret_ciphertext` holds the webhook's
-- signing secret or the Slack URL, AES-256-GCM encrypted by the application; it is never
-- returned by the API.
CREATE TABLE notification_channels (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id         uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    kind              text NOT NULL CHECK (kind IN ('webhook', 'slack', 'email')),
    enabled           boolean NOT NULL DEFAULT true,
    -- a non-empty JSON array of event type names
    events            jsonb NOT NULL
        CHECK (jsonb_typeof(events) = 'array' AND jsonb_array_length(events) >= 1),
    -- webhook: the URL the events are posted to (not a secret; its signing secret is)
    webhook_url       text CHECK (length(webhook_url) BETWEEN 1 AND 2048),
    secret_ciphertext text,
    -- email: a JSON array of 1 to 20 addresses
    email_recipients  jsonb CHECK (jsonb_typeof(email_recipients) = 'array'
                                   AND jsonb_array_length(email_recipients) BETWEEN 1 AND 20),
    secret_rotated_at timestamptz,
    created_by        uuid,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name),
    -- each kind has exactly the target fields it uses
    CHECK (CASE kind
        WHEN 'webhook' THEN webhook_url IS NOT NULL AND secret_ciphertext IS NOT NULL
                            AND email_recipients IS NULL
        WHEN 'slack'   THEN webhook_url IS NULL AND secret_ciphertext IS NOT NULL
                            AND email_recipients IS NULL
        WHEN 'email'   THEN webhook_url IS NULL AND secret_ciphertext IS NULL
                            AND email_recipients IS NOT NULL
    END)
);
SELECT wfops_enable_tenant_rls('notification_channels');
CREATE TRIGGER notification_channels_touch_updated_at BEFORE UPDATE ON notification_channels
    FOR EACH ROW EXECUTE FUNCTION wfops_touch_updated_at();

-- One event to one channel, and how its delivery went. The channel's name and kind are copied
-- so that the log still reads after the channel is deleted (`channel_id` becomes null).
-- `payload` is the event's data as sent (never a secret); `last_error` is written without
-- secrets (no URL of a Slack channel, no SMTP password).
CREATE TABLE notification_deliveries (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    channel_id      uuid REFERENCES notification_channels (id) ON DELETE SET NULL,
    channel_name    text NOT NULL,
    channel_kind    text NOT NULL CHECK (channel_kind IN ('webhook', 'slack', 'email')),
    event_id        uuid NOT NULL,
    event_type      text NOT NULL CHECK (event_type IN ('incident.created', 'incident.escalated',
                        'incident.closed', 'promotion.failed', 'promotion.rolled_back', 'test')),
    payload         jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts    integer NOT NULL CHECK (max_attempts >= 1),
    last_error      text,
    response_status integer CHECK (response_status BETWEEN 100 AND 599),
    job_id          uuid,
    last_attempt_at timestamptz,
    delivered_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
SELECT wfops_enable_tenant_rls('notification_deliveries');
CREATE TRIGGER notification_deliveries_touch_updated_at BEFORE UPDATE ON notification_deliveries
    FOR EACH ROW EXECUTE FUNCTION wfops_touch_updated_at();
CREATE INDEX notification_deliveries_tenant_created_idx
    ON notification_deliveries (tenant_id, created_at DESC, id);
CREATE INDEX notification_deliveries_channel_idx
    ON notification_deliveries (tenant_id, channel_id, created_at DESC);

GRANT SELECT, INSERT, UPDATE, DELETE ON notification_channels, notification_deliveries TO wfops_app;
