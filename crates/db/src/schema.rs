// @generated automatically by Diesel CLI.

diesel::table! {
    api_keys (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        name -> Text,
        key_prefix -> Text,
        secret_hash -> Text,
        role -> Text,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        expires_at -> Nullable<Timestamptz>,
        last_used_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    audit_logs (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        actor_type -> Text,
        actor_id -> Nullable<Uuid>,
        impersonated_user_id -> Nullable<Uuid>,
        action -> Text,
        resource_type -> Text,
        resource_id -> Nullable<Text>,
        details -> Jsonb,
        request_id -> Nullable<Text>,
        ip_address -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    auth_generation (id) {
        id -> Bool,
        generation -> Int8,
    }
}

diesel::table! {
    background_jobs (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        environment_id -> Nullable<Uuid>,
        job_type -> Text,
        status -> Text,
        payload -> Jsonb,
        result -> Nullable<Jsonb>,
        progress -> Nullable<Jsonb>,
        error -> Nullable<Text>,
        attempts -> Int4,
        max_attempts -> Int4,
        run_at -> Timestamptz,
        lock_key -> Nullable<Text>,
        locked_by -> Nullable<Text>,
        lease_expires_at -> Nullable<Timestamptz>,
        heartbeat_at -> Nullable<Timestamptz>,
        started_at -> Nullable<Timestamptz>,
        completed_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        idempotency_key -> Nullable<Text>,
        resource_type -> Nullable<Text>,
        resource_id -> Nullable<Uuid>,
        checkpoint -> Nullable<Jsonb>,
    }
}

diesel::table! {
    canonical_workflow_git_state (tenant_id, canonical_id, environment_id) {
        tenant_id -> Uuid,
        canonical_id -> Uuid,
        environment_id -> Uuid,
        git_commit_sha -> Nullable<Text>,
        git_content_hash -> Nullable<Text>,
        git_path -> Text,
        last_synced_at -> Timestamptz,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        git_workflow_data -> Nullable<Jsonb>,
        git_commit_time -> Nullable<Timestamptz>,
        parse_error -> Nullable<Text>,
        git_blob_sha -> Nullable<Text>,
    }
}

diesel::table! {
    canonical_workflows (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        canonical_slug -> Text,
        name -> Text,
        content_hash -> Nullable<Text>,
        workflow_definition -> Nullable<Jsonb>,
        git_file_path -> Nullable<Text>,
        provider -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    credential_mappings (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        source_environment_id -> Uuid,
        target_environment_id -> Uuid,
        credential_type -> Text,
        source_credential_id -> Text,
        source_credential_name -> Text,
        target_credential_id -> Text,
        target_credential_name -> Text,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    deployment_workflows (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        deployment_id -> Uuid,
        canonical_id -> Nullable<Uuid>,
        workflow_id -> Text,
        workflow_name -> Text,
        status -> Text,
        error_message -> Nullable<Text>,
        promoted_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        position -> Nullable<Int4>,
        action -> Nullable<Text>,
        target_workflow_id -> Nullable<Text>,
        source_content_hash -> Nullable<Text>,
        target_content_hash -> Nullable<Text>,
        rollback_outcome -> Nullable<Text>,
        rollback_error -> Nullable<Text>,
    }
}

diesel::table! {
    deployments (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        promotion_id -> Uuid,
        status -> Text,
        scheduled_for -> Nullable<Timestamptz>,
        started_at -> Nullable<Timestamptz>,
        finished_at -> Nullable<Timestamptz>,
        summary_json -> Nullable<Jsonb>,
        error_message -> Nullable<Text>,
        created_by -> Nullable<Uuid>,
        is_deleted -> Bool,
        deleted_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        cancel_requested_at -> Nullable<Timestamptz>,
        job_id -> Nullable<Uuid>,
        idempotency_key -> Nullable<Text>,
        idempotency_request_hash -> Nullable<Text>,
    }
}

diesel::table! {
    drift_approvals (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        incident_id -> Uuid,
        approval_type -> Text,
        status -> Text,
        requested_by -> Nullable<Uuid>,
        reviewed_by -> Nullable<Uuid>,
        request_reason -> Nullable<Text>,
        review_notes -> Nullable<Text>,
        ttl_extension_hours -> Nullable<Int4>,
        created_at -> Timestamptz,
        reviewed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    drift_check_history (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        environment_id -> Uuid,
        check_type -> Text,
        drift_found -> Bool,
        workflows_checked -> Int4,
        workflows_with_drift -> Int4,
        workflows_not_in_git -> Int4,
        check_duration_ms -> Int8,
        error_message -> Nullable<Text>,
        checked_at -> Timestamptz,
        status -> Text,
        workflows_missing_in_runtime -> Int4,
        workflows_untracked -> Int4,
        partial -> Bool,
        incident_id -> Nullable<Uuid>,
        details -> Nullable<Jsonb>,
    }
}

diesel::table! {
    drift_incidents (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        environment_id -> Uuid,
        status -> Text,
        escalation_level -> Text,
        title -> Text,
        summary -> Nullable<Jsonb>,
        severity -> Text,
        detected_at -> Timestamptz,
        acknowledged_at -> Nullable<Timestamptz>,
        stabilized_at -> Nullable<Timestamptz>,
        reconciled_at -> Nullable<Timestamptz>,
        closed_at -> Nullable<Timestamptz>,
        detected_by -> Nullable<Uuid>,
        acknowledged_by -> Nullable<Uuid>,
        stabilized_by -> Nullable<Uuid>,
        reconciled_by -> Nullable<Uuid>,
        closed_by -> Nullable<Uuid>,
        owner_user_id -> Nullable<Uuid>,
        reason -> Nullable<Text>,
        ticket_ref -> Nullable<Text>,
        expires_at -> Nullable<Timestamptz>,
        affected_workflows -> Jsonb,
        drift_snapshot -> Nullable<Jsonb>,
        resolution_type -> Nullable<Text>,
        resolution_details -> Nullable<Jsonb>,
        payload_purged_at -> Nullable<Timestamptz>,
        is_deleted -> Bool,
        deleted_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    drift_policies (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        environment_id -> Nullable<Uuid>,
        severity_ttls -> Jsonb,
        enforce_ttl -> Bool,
        enforce_sla -> Bool,
        auto_create_incidents -> Bool,
        auto_create_for_production_only -> Bool,
        block_on_active_drift -> Bool,
        closed_incident_retention_days -> Int4,
        reconciliation_artifact_retention_days -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    env_sync_seen (environment_id, sync_run_id, n8n_workflow_id) {
        tenant_id -> Uuid,
        environment_id -> Uuid,
        sync_run_id -> Uuid,
        n8n_workflow_id -> Text,
    }
}

diesel::table! {
    environment_variables (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        environment_id -> Uuid,
        key -> Text,
        value -> Text,
        is_secret -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    environments (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        name -> Text,
        url -> Text,
        provider -> Text,
        environment_class -> Text,
        api_key_encrypted -> Nullable<Text>,
        drift_handling_mode -> Text,
        git_repo_url -> Nullable<Text>,
        git_branch -> Text,
        git_folder -> Nullable<Text>,
        git_token_encrypted -> Nullable<Text>,
        drift_status -> Text,
        last_heartbeat_at -> Nullable<Timestamptz>,
        last_sync_at -> Nullable<Timestamptz>,
        last_drift_check_at -> Nullable<Timestamptz>,
        last_drift_detected_at -> Nullable<Timestamptz>,
        active_drift_incident_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
        drift_status_reason -> Nullable<Text>,
        drift_summary -> Nullable<Jsonb>,
        git_webhook_secret_encrypted -> Nullable<Text>,
    }
}

diesel::table! {
    executions (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        environment_id -> Uuid,
        provider -> Text,
        workflow_id -> Text,
        workflow_name -> Nullable<Text>,
        n8n_execution_id -> Text,
        normalized_status -> Text,
        started_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
        execution_time -> Nullable<Int8>,
        error_message -> Nullable<Text>,
        error_node -> Nullable<Text>,
        mode -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    hash_rules_state (tenant_id) {
        tenant_id -> Uuid,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    job_events (id) {
        id -> Int8,
        tenant_id -> Uuid,
        job_id -> Uuid,
        event -> Text,
        data -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    notification_channels (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        name -> Text,
        kind -> Text,
        enabled -> Bool,
        events -> Jsonb,
        webhook_url -> Nullable<Text>,
        secret_ciphertext -> Nullable<Text>,
        email_recipients -> Nullable<Jsonb>,
        secret_rotated_at -> Nullable<Timestamptz>,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    notification_deliveries (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        channel_id -> Nullable<Uuid>,
        channel_name -> Text,
        channel_kind -> Text,
        event_id -> Uuid,
        event_type -> Text,
        payload -> Jsonb,
        status -> Text,
        attempts -> Int4,
        max_attempts -> Int4,
        last_error -> Nullable<Text>,
        response_status -> Nullable<Int4>,
        job_id -> Nullable<Uuid>,
        last_attempt_at -> Nullable<Timestamptz>,
        delivered_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    pipelines (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        provider -> Text,
        name -> Text,
        description -> Nullable<Text>,
        stages -> Jsonb,
        is_active -> Bool,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    promotions (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        pipeline_id -> Nullable<Uuid>,
        stage_name -> Nullable<Text>,
        source_environment_id -> Uuid,
        target_environment_id -> Uuid,
        status -> Text,
        workflow_selections -> Jsonb,
        gate_results -> Nullable<Jsonb>,
        source_snapshot_id -> Nullable<Uuid>,
        target_pre_snapshot_id -> Nullable<Uuid>,
        target_post_snapshot_id -> Nullable<Uuid>,
        execution_result -> Nullable<Jsonb>,
        idempotency_key -> Nullable<Text>,
        created_by -> Nullable<Uuid>,
        approved_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        completed_at -> Nullable<Timestamptz>,
        idempotency_request_hash -> Nullable<Text>,
        created_by_actor -> Nullable<Text>,
        approved_by_actor -> Nullable<Text>,
        approved_at -> Nullable<Timestamptz>,
        rejection_reason -> Nullable<Text>,
        notes -> Nullable<Text>,
    }
}

diesel::table! {
    revoked_tokens (tenant_id, jti) {
        jti -> Text,
        tenant_id -> Uuid,
        expires_at -> Timestamptz,
        revoked_at -> Timestamptz,
    }
}

diesel::table! {
    scheduler_state (name) {
        name -> Text,
        interval_seconds -> Int4,
        enabled -> Bool,
        last_run_at -> Nullable<Timestamptz>,
        last_finished_at -> Nullable<Timestamptz>,
        next_run_at -> Timestamptz,
        last_error -> Nullable<Text>,
        last_duration_ms -> Nullable<Int8>,
        run_count -> Int8,
        locked_by -> Nullable<Text>,
        lease_expires_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    scheduler_tenant_runs (tenant_id, scheduler_name) {
        tenant_id -> Uuid,
        scheduler_name -> Text,
        last_run_at -> Timestamptz,
        last_finished_at -> Timestamptz,
        last_success_at -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        run_count -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    snapshot_restores (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        snapshot_id -> Uuid,
        environment_id -> Uuid,
        status -> Text,
        requested_by_actor -> Text,
        decided_by_actor -> Nullable<Text>,
        decided_at -> Nullable<Timestamptz>,
        rejection_reason -> Nullable<Text>,
        job_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    snapshots (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        environment_id -> Uuid,
        snapshot_type -> Text,
        workflows -> Jsonb,
        workflow_count -> Int4,
        git_commit_sha -> Nullable<Text>,
        notes -> Nullable<Text>,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    tenants (id) {
        id -> Uuid,
        name -> Text,
        slug -> Text,
        subscription_tier -> Text,
        is_active -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    users (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        email -> Text,
        display_name -> Nullable<Text>,
        role -> Text,
        password_hash -> Nullable<Text>,
        is_active -> Bool,
        is_platform_admin -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        last_login_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    workflow_diff_state (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        canonical_id -> Uuid,
        source_environment_id -> Uuid,
        target_environment_id -> Nullable<Uuid>,
        diff_status -> Text,
        source_content_hash -> Nullable<Text>,
        target_content_hash -> Nullable<Text>,
        git_content_hash -> Nullable<Text>,
        computed_at -> Timestamptz,
    }
}

diesel::table! {
    workflow_env_map (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        canonical_id -> Nullable<Uuid>,
        environment_id -> Uuid,
        n8n_workflow_id -> Text,
        status -> Text,
        env_content_hash -> Nullable<Text>,
        git_content_hash -> Nullable<Text>,
        n8n_updated_at -> Nullable<Timestamptz>,
        workflow_name -> Nullable<Text>,
        workflow_data -> Nullable<Jsonb>,
        linked_at -> Nullable<Timestamptz>,
        last_env_sync_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        n8n_version_id -> Nullable<Text>,
        active -> Bool,
        parse_error -> Nullable<Text>,
    }
}

diesel::table! {
    workflow_hash_registry (tenant_id, content_hash) {
        tenant_id -> Uuid,
        content_hash -> Text,
        canonical_id -> Uuid,
        workflow_payload -> Jsonb,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(api_keys -> tenants (tenant_id));
diesel::joinable!(audit_logs -> tenants (tenant_id));
diesel::joinable!(background_jobs -> tenants (tenant_id));
diesel::joinable!(canonical_workflow_git_state -> tenants (tenant_id));
diesel::joinable!(canonical_workflows -> tenants (tenant_id));
diesel::joinable!(credential_mappings -> tenants (tenant_id));
diesel::joinable!(deployment_workflows -> tenants (tenant_id));
diesel::joinable!(deployments -> tenants (tenant_id));
diesel::joinable!(drift_approvals -> tenants (tenant_id));
diesel::joinable!(drift_check_history -> tenants (tenant_id));
diesel::joinable!(drift_incidents -> tenants (tenant_id));
diesel::joinable!(drift_policies -> tenants (tenant_id));
diesel::joinable!(env_sync_seen -> tenants (tenant_id));
diesel::joinable!(environment_variables -> tenants (tenant_id));
diesel::joinable!(environments -> tenants (tenant_id));
diesel::joinable!(executions -> tenants (tenant_id));
diesel::joinable!(hash_rules_state -> tenants (tenant_id));
diesel::joinable!(notification_channels -> tenants (tenant_id));
diesel::joinable!(notification_deliveries -> notification_channels (channel_id));
diesel::joinable!(notification_deliveries -> tenants (tenant_id));
diesel::joinable!(pipelines -> tenants (tenant_id));
diesel::joinable!(promotions -> tenants (tenant_id));
diesel::joinable!(revoked_tokens -> tenants (tenant_id));
diesel::joinable!(scheduler_tenant_runs -> tenants (tenant_id));
diesel::joinable!(snapshot_restores -> tenants (tenant_id));
diesel::joinable!(snapshots -> tenants (tenant_id));
diesel::joinable!(users -> tenants (tenant_id));
diesel::joinable!(workflow_diff_state -> tenants (tenant_id));
diesel::joinable!(workflow_env_map -> tenants (tenant_id));
diesel::joinable!(workflow_hash_registry -> tenants (tenant_id));

diesel::allow_tables_to_appear_in_same_query!(
    api_keys,
    audit_logs,
    auth_generation,
    background_jobs,
    canonical_workflow_git_state,
    canonical_workflows,
    credential_mappings,
    deployment_workflows,
    deployments,
    drift_approvals,
    drift_check_history,
    drift_incidents,
    drift_policies,
    env_sync_seen,
    environment_variables,
    environments,
    executions,
    hash_rules_state,
    job_events,
    notification_channels,
    notification_deliveries,
    pipelines,
    promotions,
    revoked_tokens,
    scheduler_state,
    scheduler_tenant_runs,
    snapshot_restores,
    snapshots,
    tenants,
    users,
    workflow_diff_state,
    workflow_env_map,
    workflow_hash_registry,
);
