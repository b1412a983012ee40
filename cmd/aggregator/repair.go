package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/planetgo/aggregator/storage"
)

// exitCorrupt is the exit status of a command that finds the database
// damaged (sysexits.h EX_DATAERR). The systemd unit lists it in
// RestartPreventExitStatus=: restarting cannot help, a person must
// salvage the database.
const exitCorrupt = 65

// corruptHelp tells what to do about a damaged database.
const corruptHelp = `the database %s is damaged; restarting will not help. Stop the daemon, then
  aggregator verify -config %s                 lists the problems
  aggregator salvage -config %s -o NEW.db      copies what is readable into NEW.db
and move NEW.db in place of the database (keep the damaged file until the result is checked).
`

// runVerify runs `aggregator verify`: it checks the database, its pages,
// then its indexes and counts (storage.Store.Verify), and says ok or
// returns the problems.
func runVerify(c *cli) error {
	cfg, err := c.load(0)
	if err != nil {
		return err
	}
	if _, err := os.Stat(cfg.Database); err != nil {
		return err
	}
	store, err := storage.Open(cfg.Database, storage.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	if err := store.Verify(c.ctx); err != nil {
		return fmt.Errorf("%s: %w", cfg.Database, err)
	}
	fmt.Fprintf(c.stdout, "%s: ok\n", cfg.Database)
	return nil
}

// runSalvage runs `aggregator salvage`: it copies what is readable of the
// database into the new file -o names, and prints what was copied and
// what was lost.
func runSalvage(c *cli) error {
	o := c.fs.String("o", "", "the new database `file` to write")
	cfg, err := c.load(0)
	if err != nil {
		return err
	}
	out, stdout := *o, c.stdout
	if out == "" {
		return &usageError{"salvage needs -o NEW.db, a file that does not exist yet"}
	}
	rep, err := storage.Salvage(cfg.Database, out, time.Second)
	if errors.Is(err, fs.ErrExist) {
		return &usageError{fmt.Sprintf("-o %s: the file exists; salvage writes a new one", out)}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s → %s: ", cfg.Database, out)
	rep.WriteText(stdout)
	fmt.Fprintf(stdout, "with the daemon stopped, move %s in place of %s; the next fetch brings back what the feeds still list\n", out, cfg.Database)
	return nil
}
