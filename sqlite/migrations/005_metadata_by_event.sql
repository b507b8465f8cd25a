-- The metadata index rows of one event, found by the event: removing them
-- when it stops being pending (sqlite/events.go unindexMetadata) is one
-- index range, costing as much as the rows removed, with no parse of its
-- metadata, and it removes the rows that were written whatever the rules
-- of triggers.MetadataTerms were then.
CREATE INDEX event_metadata_by_event ON event_metadata (tenant, id);
