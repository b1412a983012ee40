package storage

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

// Stats describes the database file and bbolt's work on it since Open, for
// metrics.
type Stats struct {
	SizeBytes     int64 // the file's size
	FreePages     int   // pages free for reuse
	PendingPages  int   // pages freed by transactions still read
	FreeBytes     int   // bytes in free pages
	FreelistBytes int   // bytes the freelist itself takes
	ReadTxs       int   // read transactions started
	OpenReadTxs   int   // read transactions open now
	Writes        int64 // pages written by committed transactions
	WriteTime     time.Duration
}

// Stats returns the database's size and bbolt's counters. It returns an
// error only if the database cannot be read.
func (s *Store) Stats() (Stats, error) {
	var size int64
	if err := s.db.View(func(tx *bolt.Tx) error {
		size = tx.Size()
		return nil
	}); err != nil {
		return Stats{}, err
	}
	st := s.db.Stats()
	return Stats{
		SizeBytes:     size,
		FreePages:     st.FreePageN,
		PendingPages:  st.PendingPageN,
		FreeBytes:     st.FreeAlloc,
		FreelistBytes: st.FreelistInuse,
		ReadTxs:       st.TxN,
		OpenReadTxs:   st.OpenTxN,
		Writes:        st.TxStats.GetWrite(),
		WriteTime:     st.TxStats.GetWriteTime(),
	}, nil
}
