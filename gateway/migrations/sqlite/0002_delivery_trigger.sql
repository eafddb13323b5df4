-- Every message gets its delivery in the same statement that writes it: one round trip to the
-- database per message at intake, and "a message without a delivery" cannot exist.
CREATE TRIGGER messages_start_delivery AFTER INSERT ON messages
BEGIN
    INSERT INTO deliveries (message_seq, dossier_code, destination, kind, state, next_attempt_at, age_from, updated_at)
    VALUES (NEW.seq, NEW.dossier_code, NEW.destination, NEW.kind, 'pending', NEW.created_at, NEW.created_at, NEW.created_at);
END;
