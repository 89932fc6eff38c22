// One portable schema for both backends: only types both SQLite and
// PostgreSQL map the same way (Text, BigInt, Bool, Timestamp).

diesel::table! {
    users (id) {
        id -> Text,
        username -> Text,
        display_name -> Text,
        role -> Text,
        agency -> Text,
        disabled -> Bool,
        created_at -> Timestamp,
        language -> Nullable<Text>,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Text,
        user_id -> Text,
        token_hash -> Text,
        label -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    cases (id) {
        id -> Text,
        referral_id -> Text,
        reference -> Text,
        direction -> Text,
        state -> Text,
        hold_from_state -> Nullable<Text>,
        version -> BigInt,
        counterpart_node -> Text,
        details -> Text,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        state_changed_at -> Timestamp,
        due_at -> Nullable<Timestamp>,
        closure_outcome -> Nullable<Text>,
        reason_code -> Nullable<Text>,
    }
}

diesel::table! {
    crossing_points (code) {
        code -> Text,
        name_en -> Text,
        name_fr -> Text,
        active -> Bool,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    directory_organizations (id) {
        id -> Text,
        name -> Text,
        org_type -> Text,
        country -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    directory_services (id) {
        id -> Text,
        organization_id -> Text,
        name -> Text,
        service_type -> Text,
        region -> Nullable<Text>,
        district -> Nullable<Text>,
        address -> Nullable<Text>,
        phone -> Nullable<Text>,
        email -> Nullable<Text>,
        is_shelter -> Bool,
        places_adults -> Nullable<BigInt>,
        places_children -> Nullable<BigInt>,
        places_women -> Nullable<BigInt>,
        capacity_updated_at -> Nullable<Timestamp>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    case_reports (id) {
        id -> Text,
        case_id -> Text,
        kind -> Text,
        number -> BigInt,
        data -> Text,
        by_side -> Text,
        recorded_at -> Timestamp,
    }
}

diesel::table! {
    handovers (case_id) {
        case_id -> Text,
        plan -> Text,
        proposed_by -> Text,
        status -> Text,
        round -> BigInt,
        departure -> Nullable<Text>,
        sending_confirmation -> Nullable<Text>,
        receiving_confirmation -> Nullable<Text>,
        mismatch -> Nullable<Text>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    overdue_steps (case_id, state, due_at) {
        case_id -> Text,
        state -> Text,
        due_at -> Timestamp,
        found_at -> Timestamp,
    }
}

diesel::table! {
    case_erasures (case_id) {
        case_id -> Text,
        withdrawn_on -> Date,
        erased_at -> Timestamp,
        confirmed_by_peer_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    case_identities (case_id) {
        case_id -> Text,
        identity -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    case_keys (referral_id) {
        referral_id -> Text,
        epoch -> BigInt,
        wrapped -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    vault_state (id) {
        id -> BigInt,
        ring -> Text,
        epoch -> BigInt,
        rotated_at -> Timestamp,
        destroyed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    name_grams (gram) {
        gram -> Text,
        holders -> BigInt,
    }
}

diesel::table! {
    name_index (gram, case_id) {
        gram -> Text,
        case_id -> Text,
    }
}

diesel::table! {
    case_events (id) {
        id -> Text,
        case_id -> Text,
        version -> BigInt,
        at -> Timestamp,
        kind -> Text,
        from_state -> Nullable<Text>,
        to_state -> Text,
        actor_kind -> Text,
        actor_user_id -> Nullable<Text>,
        actor_role -> Nullable<Text>,
        reason_code -> Nullable<Text>,
        outcome -> Nullable<Text>,
        comment -> Nullable<Text>,
    }
}

diesel::table! {
    outbox_messages (id) {
        id -> Text,
        seq -> BigInt,
        case_id -> Text,
        referral_id -> Text,
        message_type -> Text,
        body -> Text,
        signature -> Text,
        hash -> Text,
        status -> Text,
        attempts -> BigInt,
        next_attempt_at -> Timestamp,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        settled_at -> Nullable<Timestamp>,
        receipt -> Nullable<Text>,
        receipt_signer -> Nullable<Text>,
    }
}

diesel::table! {
    case_disagreements (referral_id) {
        referral_id -> Text,
        case_id -> Text,
        local_state -> Text,
        peer_state -> Text,
        peer_hold_from -> Nullable<Text>,
        detected_at -> Timestamp,
        checked_at -> Timestamp,
        resolution -> Text,
        resolved_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    inbox_messages (id) {
        id -> Text,
        seq -> BigInt,
        sender -> Text,
        referral_id -> Text,
        message_type -> Text,
        body -> Text,
        signature -> Text,
        hash -> Text,
        signer -> Text,
        status -> Text,
        code -> Nullable<Text>,
        receipt -> Text,
        received_at -> Timestamp,
    }
}

diesel::table! {
    peer_channels (direction) {
        direction -> Text,
        last_seq -> BigInt,
        last_hash -> Text,
        fence -> BigInt,
    }
}

diesel::table! {
    certificates (fingerprint) {
        fingerprint -> Text,
        pem -> Text,
        first_seen -> Timestamp,
    }
}

diesel::table! {
    own_certificates (fingerprint) {
        fingerprint -> Text,
        pem -> Text,
        first_used -> Timestamp,
    }
}

diesel::table! {
    peer_alerts (id) {
        id -> Text,
        at -> Timestamp,
        kind -> Text,
        detail -> Text,
    }
}

diesel::table! {
    idempotency_keys (user_id, idem_key) {
        user_id -> Text,
        idem_key -> Text,
        request_hash -> Text,
        case_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    audit_log (idx) {
        idx -> BigInt,
        at -> Timestamp,
        kind -> Text,
        actor -> Text,
        role -> Nullable<Text>,
        action -> Text,
        case_id -> Nullable<Text>,
        referral_id -> Nullable<Text>,
        message_id -> Nullable<Text>,
        seq -> Nullable<BigInt>,
        digest -> Nullable<Text>,
        peer_index -> Nullable<BigInt>,
        outcome -> Text,
        code -> Nullable<Text>,
        source -> Nullable<Text>,
        occurrences -> Nullable<BigInt>,
    }
}

diesel::table! {
    audit_tree (tree, level, idx) {
        tree -> Text,
        level -> BigInt,
        idx -> BigInt,
        hash -> Text,
    }
}

diesel::table! {
    audit_head (id) {
        id -> BigInt,
        size -> BigInt,
    }
}

diesel::table! {
    audit_watch (id) {
        id -> BigInt,
        next_index -> BigInt,
        passes -> BigInt,
        last_checked_at -> Nullable<Timestamp>,
        suspended_at -> Nullable<Timestamp>,
        suspended_index -> Nullable<BigInt>,
        suspended_problem -> Nullable<Text>,
        suspended_peer_leaf -> Nullable<Text>,
        checked_through -> BigInt,
        receipts_after -> BigInt,
    }
}

diesel::table! {
    audit_watch_accepted (idx) {
        idx -> BigInt,
        peer_leaf -> Text,
        problem -> Text,
        acknowledged_by -> Text,
        acknowledged_at -> Timestamp,
    }
}

diesel::table! {
    audit_checkpoints (origin, size) {
        origin -> Text,
        size -> BigInt,
        root -> Text,
        signed_at -> Timestamp,
        note -> Text,
        recorded_at -> Timestamp,
    }
}

diesel::table! {
    audit_cosignatures (origin, size, witness) {
        origin -> Text,
        size -> BigInt,
        witness -> Text,
        signature -> Text,
        cosigned_at -> Timestamp,
    }
}

diesel::table! {
    audit_evidence (id) {
        id -> Text,
        origin -> Text,
        received_at -> Timestamp,
        reason -> Text,
        note -> Text,
        proof -> Text,
    }
}

diesel::joinable!(api_tokens -> users (user_id));
diesel::joinable!(case_identities -> cases (case_id));
diesel::joinable!(name_index -> cases (case_id));
diesel::joinable!(case_events -> cases (case_id));
diesel::joinable!(case_erasures -> cases (case_id));
diesel::joinable!(directory_services -> directory_organizations (organization_id));
diesel::table! {
    user_passwords (user_id) {
        user_id -> Text,
        hash -> Text,
        changed_at -> Timestamp,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        user_id -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    sign_in_attempts (username) {
        username -> Text,
        failures -> BigInt,
        last_failure_at -> Timestamp,
        locked_until -> Nullable<Timestamp>,
    }
}

diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(outbox_messages -> cases (case_id));
diesel::joinable!(case_disagreements -> cases (case_id));

diesel::table! {
    reconciliation (message_id) {
        message_id -> Text,
        first_seen_at -> Nullable<Timestamp>,
        status -> Nullable<Text>,
        detail -> Nullable<Text>,
        facts -> Text,
    }
}

diesel::table! {
    reconciliation_cursor (id) {
        id -> BigInt,
        own_after -> BigInt,
        own_read_at -> Nullable<Timestamp>,
        peer_after -> BigInt,
        peer_read_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    statistics_cells (month, metric, key, bucket) {
        month -> Text,
        metric -> Text,
        key -> Text,
        bucket -> BigInt,
        count -> BigInt,
    }
}

diesel::table! {
    statistics_rollup (id) {
        id -> BigInt,
        built -> Bool,
    }
}

diesel::table! {
    leases (name) {
        name -> Text,
        holder -> Text,
        term -> BigInt,
        expires_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    users,
    api_tokens,
    cases,
    case_identities,
    name_index,
    name_grams,
    case_keys,
    vault_state,
    case_events,
    outbox_messages,
    case_disagreements,
    inbox_messages,
    peer_channels,
    certificates,
    own_certificates,
    peer_alerts,
    idempotency_keys,
    case_erasures,
    overdue_steps,
    handovers,
    case_reports,
    directory_organizations,
    directory_services,
    crossing_points,
    audit_log,
    audit_tree,
    audit_head,
    audit_watch,
    audit_watch_accepted,
    audit_checkpoints,
    audit_cosignatures,
    audit_evidence,
    user_passwords,
    sessions,
    sign_in_attempts,
    leases,
);
