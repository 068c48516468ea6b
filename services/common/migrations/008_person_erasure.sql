-- Erasure on request (contracts.events.PersonErased): every service finds what it keeps
-- about a person by their person id, the digest of their e-mail address.

-- contracts.events.person_id, in SQL.
CREATE FUNCTION person_id(email text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN encode(sha256(convert_to('redthread-person:' || lower(btrim(email)), 'UTF8')), 'hex');

-- What stands where an erased person was, valid wherever a person is (contracts' Person).
CREATE FUNCTION erased_person() RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN '{"name": "(raderad)", "email": "raderad@redthread.invalid"}'::jsonb;

-- `people`, a JSON array of persons, with the person `erased` replaced by erased_person().
CREATE FUNCTION without_person(people jsonb, erased text) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (
    SELECT coalesce(jsonb_agg(CASE WHEN person_id(p ->> 'email') = erased THEN erased_person() ELSE p END
                              ORDER BY n), '[]'::jsonb)
    FROM jsonb_array_elements(coalesce(people, '[]'::jsonb)) WITH ORDINALITY AS e(p, n)
);

-- Whom this service has erased, and when: what a replay erases again.
CREATE TABLE erased_persons (
    person_id  text PRIMARY KEY,
    erased_at  timestamptz NOT NULL
);
