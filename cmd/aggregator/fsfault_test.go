package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mmcdole/gofeed"
	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/poll"
	"github.com/planetgo/aggregator/storage"
)

// nobody is the uid and gid the start tests run the command as when the
// tests run as root, whom file modes do not stop.
const nobody = 65534

// mountTmpfs mounts a tmpfs with flags and data (such as "size=64k") on a
// new directory, and unmounts it when the test ends. It skips the test where
// mounting is not permitted.
func mountTmpfs(t *testing.T, flags uintptr, data string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", flags, data); err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
			t.Skipf("mount -t tmpfs is not permitted here (%v): it needs root with CAP_SYS_ADMIN", err)
		}
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
			syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	return dir
}

// fill writes a new file in dir that leaves only leave bytes of its
// filesystem free, and returns its path.
func fill(t *testing.T, dir string, leave int64) string {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	size := int64(st.Bavail)*st.Bsize - leave
	if size < 0 {
		t.Fatalf("%s has less than %d bytes free", dir, leave)
	}
	f, err := os.CreateTemp(dir, "filler")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(make([]byte, size)); err != nil {
		t.Fatalf("fill %s with %d bytes: %v", dir, size, err)
	}
	return f.Name()
}

// openDir returns a new directory that any user may read and enter, as may
// its parent, which t.TempDir makes 0700.
func openDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// giveToNobody makes nobody own path when the tests run as root, so that
// only its mode stops them.
func giveToNobody(t *testing.T, path string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	if err := os.Chown(path, nobody, nobody); err != nil {
		t.Fatal(err)
	}
}

// createDatabase creates a database, with the schema and no items, at path.
func createDatabase(t *testing.T, path string) {
	t.Helper()
	s, err := storage.Open(path, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// remount changes the flags of the tmpfs mounted on dir: MS_RDONLY or 0.
func remount(dir string, flags uintptr) error {
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT|flags, ""); err != nil {
		return fmt.Errorf("remount %s: %w", dir, err)
	}
	return nil
}

// TestDatabaseUnwritableAtStart runs `fetch` and `serve` as a child process
// on a database they cannot write: each exits 1 within a few seconds, with
// one line on stderr naming the database and the reason. Once the cause is
// gone, the same config works: nothing was left half made. As root, the
// permission cases run the command as nobody, since root ignores modes.
func TestDatabaseUnwritableAtStart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command and runs it")
	}
	t.Parallel()
	bin := buildAggregator(t)
	if os.Geteuid() == 0 {
		// buildAggregator's directory is 0700: let nobody run the binary.
		if err := os.Chmod(filepath.Dir(bin), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	src := newSourceServer(t)

	tests := []struct {
		name     string
		asNobody bool   // when root
		want     string // the reason, in stderr
		// setup makes the condition and returns the database path and a
		// function that removes the cause.
		setup func(t *testing.T) (db string, undo func() error)
	}{
		{
			name: "read-only directory", asNobody: true, want: "permission denied",
			setup: func(t *testing.T) (string, func() error) {
				dir := filepath.Join(openDir(t), "ro")
				if err := os.Mkdir(dir, 0o555); err != nil {
					t.Fatal(err)
				}
				giveToNobody(t, dir)
				return filepath.Join(dir, "test.db"), func() error { return os.Chmod(dir, 0o755) }
			},
		},
		{
			name: "read-only database file", asNobody: true, want: "permission denied",
			setup: func(t *testing.T) (string, func() error) {
				dir := openDir(t)
				giveToNobody(t, dir)
				db := filepath.Join(dir, "test.db")
				createDatabase(t, db)
				giveToNobody(t, db)
				if err := os.Chmod(db, 0o444); err != nil {
					t.Fatal(err)
				}
				return db, func() error { return os.Chmod(db, 0o644) }
			},
		},
		{
			name: "read-only filesystem", want: "read-only file system",
			setup: func(t *testing.T) (string, func() error) {
				dir := mountTmpfs(t, syscall.MS_RDONLY, "size=1m")
				return filepath.Join(dir, "test.db"), func() error { return remount(dir, 0) }
			},
		},
		{
			name: "filesystem remounted read-only", want: "read-only file system",
			setup: func(t *testing.T) (string, func() error) {
				dir := mountTmpfs(t, 0, "size=1m")
				db := filepath.Join(dir, "test.db")
				createDatabase(t, db)
				if err := remount(dir, syscall.MS_RDONLY); err != nil {
					t.Fatal(err)
				}
				return db, func() error { return remount(dir, 0) }
			},
		},
		{
			name: "full filesystem", want: "no space left on device",
			setup: func(t *testing.T) (string, func() error) {
				dir := mountTmpfs(t, 0, "size=64k")
				filler := fill(t, dir, 0)
				return filepath.Join(dir, "test.db"), func() error { return os.Remove(filler) }
			},
		},
		{
			// bbolt writes a new file's first four pages in one write: a
			// disk with room for two keeps those two, and a later start
			// would die of SIGBUS reading past them had storage.Open not
			// removed the file it failed to create.
			name: "filesystem full after two pages", want: "no space left on device",
			setup: func(t *testing.T) (string, func() error) {
				dir := mountTmpfs(t, 0, "size=64k")
				filler := fill(t, dir, 8<<10)
				return filepath.Join(dir, "test.db"), func() error { return os.Remove(filler) }
			},
		},
	}
	for _, tt := range tests {
		for _, cmd := range []string{"fetch", "serve"} {
			t.Run(tt.name+"/"+cmd, func(t *testing.T) {
				t.Parallel()
				db, undo := tt.setup(t)
				configPath := filepath.Join(openDir(t), "config.yaml")
				cfg := fmt.Sprintf("listen: %s\ndatabase: %s\nsources:\n  - {name: news, url: %q}\n", freeAddr(t), db, src.URL+"/news.rss")
				if err := os.WriteFile(configPath, []byte(cfg), 0o644); err != nil {
					t.Fatal(err)
				}
				asNobody := tt.asNobody && os.Geteuid() == 0
				if asNobody {
					// So that what fails below is the database, not the
					// binary or the config.
					if code, _, stderr := runBinary(t, bin, true, "check", "-config", configPath); code != exitOK {
						t.Fatalf("as nobody, check exited %d: %s", code, stderr)
					}
				}

				code, _, stderr := runBinary(t, bin, asNobody, cmd, "-config", configPath)
				if code != exitFail {
					t.Errorf("%s exited %d, want %d; stderr:\n%s", cmd, code, exitFail, stderr)
				}
				line := strings.TrimSuffix(stderr, "\n")
				if !strings.HasPrefix(line, "aggregator "+cmd+": ") || strings.Contains(line, "\n") ||
					!strings.Contains(line, db) || !strings.Contains(line, tt.want) {
					t.Errorf("stderr = %q, want one line naming %s and saying %q", stderr, db, tt.want)
				}
				t.Logf("stderr: %s", line)

				if err := undo(); err != nil {
					t.Fatal(err)
				}
				code, stdout, stderr := runBinary(t, bin, asNobody, "fetch", "-config", configPath)
				if code != exitOK || !strings.Contains(stdout, "news: new 1\n") {
					t.Errorf("once the cause is gone, fetch exited %d, printed %q; stderr:\n%s", code, stdout, stderr)
				}
			})
		}
	}
}

// runBinary runs bin with args, as nobody if asNobody, and returns its exit
// code, stdout and stderr. It fails the test if bin crashes or is still
// running after five seconds, and skips it if the system does not let it
// run a process as nobody.
func runBinary(t *testing.T, bin string, asNobody bool, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if asNobody {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	}
	if err := cmd.Start(); err != nil {
		if asNobody && errors.Is(err, syscall.EPERM) {
			t.Skipf("running a process as uid %d is not permitted here: %v", nobody, err)
		}
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	const limit = 5 * time.Second
	select {
	case <-exited:
	case <-time.After(limit):
		cmd.Process.Kill()
		<-exited
		t.Fatalf("%s still running after %v; stderr:\n%s", strings.Join(args, " "), limit, &errOut)
	}
	if s := errOut.String(); strings.Contains(s, "panic:") || strings.Contains(s, "fatal error:") || strings.Contains(s, "goroutine ") {
		t.Fatalf("%s crashed:\n%s", strings.Join(args, " "), s)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
}

// testRSS is an RSS feed of n items, titled "name #0" to "name #n-1" and
// dated a minute apart from base, each with content bytes of text.
func testRSS(name string, n int, base time.Time, content int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0"?><rss version="2.0"><channel><title>%s</title><link>http://%s.example/</link><description>d</description>`, name, name)
	body := strings.Repeat("word ", content/5)
	for i := range n {
		fmt.Fprintf(&b, "<item><title>%s #%d</title><guid>%s-%d</guid><pubDate>%s</pubDate><description>%s</description></item>",
			name, i, name, i, base.Add(time.Duration(i)*time.Minute).Format(time.RFC1123Z), body)
	}
	b.WriteString("</channel></rss>")
	return []byte(b.String())
}

// TestFullFilesystemDuringPass puts the database on a small tmpfs and fills
// the disk between passes. The sources whose new items do not fit fail with
// ENOSPC, are logged, and keep what they had; the feeds still serve every
// stored item, also after a restart on the full disk; the database stays
// whole. Once space is freed, the next pass fetches the failed sources in
// full and stores them, once.
func TestFullFilesystemDuringPass(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	disk := mountTmpfs(t, 0, "size=2m")
	src := newSourceServer(t)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	small := []string{"small-1", "small-2", "small-3"}
	big := []string{"big-1", "big-2"}
	var cfgText strings.Builder
	fmt.Fprintf(&cfgText, "database: %s\nschedule: \"@every 1h\"\nfetch: {concurrency: 4, per_host: 4}\npublish: {items: 20}\nsources:\n", filepath.Join(disk, "test.db"))
	for _, name := range append(small, big...) {
		src.set("/"+name, testRSS(name, 3, base, 100))
		fmt.Fprintf(&cfgText, "  - {name: %s, url: %q}\n", name, src.URL+"/"+name)
	}
	cfg := writeAndLoadConfig(t, t.TempDir(), cfgText.String())
	logs := &syncBuffer{}
	var a *app
	start := func() {
		t.Helper()
		var err error
		if a, err = openAppWith(ctx, cfg, slog.New(slog.NewTextHandler(logs, nil)), appOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := a.site.Rebuild(ctx); err != nil { // as serve does
			t.Fatal(err)
		}
	}
	start()
	defer func() {
		if a != nil {
			a.close()
		}
	}()
	pass := func() (map[string]poll.Outcome, error) {
		got := map[string]poll.Outcome{}
		err := a.poller.Refresh(ctx, cfg.Sources, func(o poll.Outcome) { got[o.Source.Name] = o })
		return got, err
	}
	// feedTitles are the titles of the merged feed, the same in each format.
	feedTitles := func() []string {
		t.Helper()
		var atom []string
		for _, path := range []string{"/feed.atom", "/feed.rss", "/feed.json"} {
			rec := httptest.NewRecorder()
			a.site.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
			f, err := gofeed.NewParser().Parse(rec.Body)
			if rec.Code != 200 || err != nil {
				t.Fatalf("GET %s: %d, %v", path, rec.Code, err)
			}
			if atom == nil {
				atom = titles(f)
			} else if got := titles(f); strings.Join(got, "\n") != strings.Join(atom, "\n") {
				t.Errorf("GET %s: titles %q, want those of /feed.atom %q", path, got, atom)
			}
		}
		return atom
	}
	wantFeed := func(when string, want []string) {
		t.Helper()
		if got := feedTitles(); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("feed %s:\n%s\nwant:\n%s", when, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}

	if _, err := pass(); err != nil {
		t.Fatal(err)
	}
	before := map[string]aggregator.SourceState{}
	for _, name := range big {
		before[name], _ = a.store.State(ctx, name)
	}
	served := feedTitles()

	// The disk fills up; then small-1 brings one more small item, and each
	// big source 25 of 16 KB: more than the 256 KiB left.
	fillers := []string{fill(t, disk, 256<<10)}
	src.set("/small-1", testRSS("small-1", 4, base, 100))
	for _, name := range big {
		src.set("/"+name, testRSS(name, 28, base.Add(24*time.Hour), 16<<10))
	}
	got, err := pass()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("pass on a full disk returned %v, want ENOSPC", err)
	}
	for _, name := range big {
		var storeErr *poll.StoreError
		if o := got[name]; !errors.As(o.Err, &storeErr) || !errors.Is(o.Err, syscall.ENOSPC) {
			t.Errorf("%s on a full disk: err %v, want a database error wrapping ENOSPC", name, o.Err)
		}
		// Returned by the pass, naming the source, for its caller to log
		// once; not logged by the fetch as well.
		if !strings.Contains(err.Error(), fmt.Sprintf("save source %q", name)) {
			t.Errorf("the pass's error does not name %s: %v", name, err)
		}
		if strings.Contains(logs.String(), "no space left") {
			t.Errorf("the store failure of %s was logged as well as returned:\n%s", name, logs)
		}
		// Not recorded as fetched: the next pass asks for the whole feed.
		// The status says why.
		st, _ := a.store.State(ctx, name)
		if st.ETag != before[name].ETag || st.BodyHash != before[name].BodyHash || st.LastSuccess != before[name].LastSuccess {
			t.Errorf("%s: state after its store failed = %+v, want the validators of before the pass", name, st)
		}
		if st.ErrorKind != "database" || !strings.Contains(st.Result(), "no space left on device") || st.ConsecutiveFailures != 0 {
			t.Errorf("%s: state after its store failed = %+v, want a database error in its last result, no failure counted", name, st)
		}
	}
	for _, name := range small[1:] {
		if o := got[name]; o.Err != nil || !o.NotModified {
			t.Errorf("%s on a full disk: err %v, not modified %v; want not modified", name, o.Err, o.NotModified)
		}
	}
	// small-1's one item fits, unless its save shared a commit with a big
	// one: then it failed with it, and is retried like it.
	small1Stored := got["small-1"].Err == nil
	if !small1Stored && !errors.Is(got["small-1"].Err, syscall.ENOSPC) {
		t.Errorf("small-1 on a full disk: %v, want stored or ENOSPC", got["small-1"].Err)
	}
	if small1Stored {
		served = append([]string{"small-1 #3"}, served...)
	}
	wantFeed("after a pass on a full disk", served)
	if err := a.store.Verify(ctx); err != nil {
		t.Errorf("database after a pass on a full disk: %v", err)
	}

	// Not a byte left: another pass, then a restart, still serve it all.
	fillers = append(fillers, fill(t, disk, 0))
	if _, err := pass(); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("pass on a disk with no space left returned %v, want ENOSPC", err)
	}
	if err := a.close(); err != nil {
		t.Logf("close on a full disk: %v", err)
	}
	a = nil
	start()
	wantFeed("after a restart on a full disk", served)
	if err := a.store.Verify(ctx); err != nil {
		t.Errorf("database after a restart on a full disk: %v", err)
	}

	for _, f := range fillers {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	got, err = pass()
	if err != nil {
		t.Fatalf("pass once space is freed: %v", err)
	}
	for _, name := range big {
		if o := got[name]; o.Err != nil || o.Saved.New != 25 {
			t.Errorf("%s once space is freed: err %v, saved %+v; want 25 new", name, o.Err, o.Saved)
		}
	}
	if !small1Stored && got["small-1"].Saved.New != 1 {
		t.Errorf("small-1 once space is freed: err %v, saved %+v; want 1 new", got["small-1"].Err, got["small-1"].Saved)
	}
	if now := feedTitles(); len(now) == 0 || !strings.HasPrefix(now[0], "big-") {
		t.Errorf("feed once space is freed starts with %q, want the big sources' newest items", now)
	}
	if err := a.close(); err != nil {
		t.Errorf("close: %v", err)
	}
	a = nil
	t.Logf("logged:\n%s", logs)

	store, err := storage.Open(cfg.Database, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.Verify(ctx); err != nil {
		t.Errorf("database once space is freed: %v", err)
	}
	items, err := store.RecentItems(ctx, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	seen := map[string]bool{}
	for _, it := range items {
		if key := it.SourceID + "/" + it.ID; seen[key] {
			t.Errorf("item %s stored twice", key)
		} else {
			seen[key] = true
		}
		count[it.SourceID]++
	}
	wantCount := map[string]int{"small-1": 4, "small-2": 3, "small-3": 3, "big-1": 28, "big-2": 28}
	if fmt.Sprint(count) != fmt.Sprint(wantCount) {
		t.Errorf("items stored per source = %v, want %v", count, wantCount)
	}
}
