-- Cases whose personal data was erased after the person withdrew consent: the
-- case skeleton, timeline, message digests and audit log stay.
CREATE TABLE case_erasures (
    case_id TEXT PRIMARY KEY NOT NULL REFERENCES cases(id),
    withdrawn_on DATE NOT NULL,
    erased_at TIMESTAMP NOT NULL,
    confirmed_by_peer_at TIMESTAMP
);

-- Steps found past their SOP time limit, each recorded once (and in the
-- audit log, so that the JTWG sees it).
CREATE TABLE overdue_steps (
    case_id TEXT NOT NULL REFERENCES cases(id),
    state TEXT NOT NULL,
    due_at TIMESTAMP NOT NULL,
    found_at TIMESTAMP NOT NULL,
    PRIMARY KEY (case_id, state, due_at)
);

-- The handover at the border: the plan under negotiation or agreed, the
-- departure, and each side's confirmation (JSON of the domain types).
CREATE TABLE handovers (
    case_id TEXT PRIMARY KEY NOT NULL REFERENCES cases(id),
    plan TEXT NOT NULL,
    proposed_by TEXT NOT NULL CHECK (proposed_by IN ('sending', 'receiving')),
    status TEXT NOT NULL CHECK (status IN ('proposed', 'agreed')),
    round BIGINT NOT NULL,
    departure TEXT,
    sending_confirmation TEXT,
    receiving_confirmation TEXT,
    mismatch TEXT,
    updated_at TIMESTAMP NOT NULL
);

-- Repatriation reports and reintegration follow-ups (coded JSON), on both
-- nodes: recorded by one side, received by the other.
CREATE TABLE case_reports (
    id TEXT PRIMARY KEY NOT NULL,
    case_id TEXT NOT NULL REFERENCES cases(id),
    kind TEXT NOT NULL CHECK (kind IN ('repatriation', 'follow_up')),
    number BIGINT NOT NULL,
    data TEXT NOT NULL,
    by_side TEXT NOT NULL CHECK (by_side IN ('sending', 'receiving')),
    recorded_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX case_reports_number ON case_reports(case_id, kind, number);

-- Directory of first-line responders (after the Open Referral HSDS model:
-- organization → service, with its location and contact). Each node keeps
-- its own side's entries; the other node reads them over the peer channel.
CREATE TABLE directory_organizations (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    org_type TEXT NOT NULL,
    country TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE TABLE directory_services (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES directory_organizations(id),
    name TEXT NOT NULL,
    service_type TEXT NOT NULL,
    region TEXT,
    district TEXT,
    address TEXT,
    phone TEXT,
    email TEXT,
    is_shelter BOOLEAN NOT NULL,
    places_adults BIGINT,
    places_children BIGINT,
    places_women BIGINT,
    capacity_updated_at TIMESTAMP,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX directory_services_org ON directory_services(organization_id);

-- Border crossing points where handovers take place: data the
-- administrators keep (both nodes must know a crossing point before plans
-- name it), seeded with the main Niger–Nigeria crossings.
CREATE TABLE crossing_points (
    code TEXT PRIMARY KEY NOT NULL,
    name_en TEXT NOT NULL,
    name_fr TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
INSERT INTO crossing_points (code, name_en, name_fr, active, updated_at) VALUES
    ('konni_illela', 'Birni-N''Konni (Tahoua) – Illela (Sokoto)', 'Birni-N''Konni (Tahoua) – Illela (Sokoto)', TRUE, '2026-11-23 00:00:00'),
    ('maradi_jibia', 'Maradi / Dan Issa – Jibia (Katsina)', 'Maradi / Dan Issa – Jibia (Katsina)', TRUE, '2026-11-23 00:00:00'),
    ('matameye_kongolam', 'Matamèye (Zinder) – Kongolam (Katsina)', 'Matamèye (Zinder) – Kongolam (Katsina)', TRUE, '2026-11-23 00:00:00'),
    ('magaria_babura', 'Magaria (Zinder) – Babura (Jigawa)', 'Magaria (Zinder) – Babura (Jigawa)', TRUE, '2026-11-23 00:00:00'),
    ('zinder_maigatari', 'Zinder – Maigatari (Jigawa)', 'Zinder – Maigatari (Jigawa)', TRUE, '2026-11-23 00:00:00'),
    ('gaya_kamba', 'Gaya (Dosso) – Kamba (Kebbi)', 'Gaya (Dosso) – Kamba (Kebbi)', TRUE, '2026-11-23 00:00:00'),
    ('diffa_damasak', 'Diffa – Damasak (Borno)', 'Diffa – Damasak (Borno)', TRUE, '2026-11-23 00:00:00');
