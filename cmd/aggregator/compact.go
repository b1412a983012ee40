package main

import (
	"fmt"
	"time"

	"github.com/planetgo/aggregator/storage"
)

// runCompact runs `aggregator compact`: it rewrites the database without
// its free pages and prints the sizes before and after. It refuses while
// a daemon holds the database.
func runCompact(c *cli) error {
	cfg, err := c.load(0)
	if err != nil {
		return err
	}
	before, after, err := storage.Compact(cfg.Database, time.Second)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "%s: %s → %s\n", cfg.Database, humanBytes(before), humanBytes(after))
	return nil
}

// humanBytes prints n in binary units: 512 B, 1.5 KiB, 193.0 MiB.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
