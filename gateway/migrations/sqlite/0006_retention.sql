-- Retention (purging in small batches): indexes that let each purge query find its rows without
-- scanning the tables.
CREATE INDEX deliveries_finished ON deliveries (state, updated_at);
CREATE INDEX messages_by_dossier ON messages (dossier_code);
CREATE INDEX dossiers_by_update ON dossiers (updated_at);
CREATE INDEX inbound_dedupe_by_time ON inbound_dedupe (received_at);
CREATE INDEX followups_by_dossier ON followups (dossier_code);
