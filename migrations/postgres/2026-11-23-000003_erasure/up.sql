-- Cases whose personal data was erased after the person withdrew consent: the
-- case skeleton, timeline, message digests and audit log stay.
CREATE TABLE case_erasures (
    case_id TEXT PRIMARY KEY NOT NULL REFERENCES cases(id),
    withdrawn_on DATE NOT NULL,
    erased_at TIMESTAMP NOT NULL,
    confirmed_by_peer_at TIMESTAMP
);
