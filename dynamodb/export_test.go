package dynamodb

// SetSpreading turns the spreading of contended receives on (the default)
// or off (every receive tries the oldest available events first), so that
// a test can measure what spreading saves.
func SetSpreading(s *Store, on bool) { s.contention.off = !on }
