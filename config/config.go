// Package config reads the aggregator's YAML file into a Config: defaults
// applied, every value checked, and every mistake reported at once with its
// file and line. It imports the root package, go.yaml.in/yaml/v3 and
// robfig/cron (to check schedules), never fetch, storage or publish.
package config

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/planetgo/aggregator"
)

// DefaultUserAgent is the User-Agent header fetch sends unless
// fetch.user_agent says otherwise.
const DefaultUserAgent = aggregator.DefaultUserAgent

// Config is a loaded, checked config file with its defaults applied.
type Config struct {
	File        string // the path Load read
	Title       string // title of the merged feed; default "Planet"
	Description string // the merged feed's description; default ""
	BaseURL     string // public URL, no trailing slash; default "http://" + Listen, localhost for no host
	BaseURLSet  bool   // whether the file sets base_url, rather than leaving BaseURL to follow Listen
	Listen      string // host:port to serve on; default "127.0.0.1:8080"
	Database    string // absolute path of the bbolt file; default "aggregator.db" beside the config file
	DatabaseSet bool   // whether the file names the database, rather than leaving Database the default
	DatabaseMax int64  // largest the database file may grow, a guard for the disk; 0, the default, is no limit
	Schedule    string // cron spec of the fetch pass; default "@every 15m"
	Fetch       Fetch
	Publish     Publish
	Page        Page
	Theme       string // absolute path of the theme directory; "" for the built-in theme
	Retention   Retention
	Admin       Admin
	WebSub      WebSub
	Sections    []Section           // in file order
	Sources     []aggregator.Source // in file order
	// Rules are the filters: of the file, at the top level, in sections
	// and in sources, compiled once; nil when it has none.
	Rules *aggregator.Rules
}

// Fetch holds the settings of the fetch pass.
type Fetch struct {
	Timeout     time.Duration // per fetch, from sending the request to the end of parsing; default 30s
	Concurrency int           // requests in flight; default 8
	PerHost     int           // requests in flight to one host; default 2
	MaxBytes    int64         // largest body read; default 10 MiB
	UserAgent   string        // default DefaultUserAgent

	HeaderTimeout time.Duration // from request to response headers; default 15s (at most Timeout)
	HostInterval  time.Duration // least time between two requests to one host; default 0
	MaxInterval   time.Duration // longest a source's hints, backoff or Retry-After stretch its interval; default 24h
	Jitter        time.Duration // a scheduled pass spreads its sources over this window (at most a quarter of the interval); default 1m

	// AllowPrivateRedirects lets a source on a public address redirect to
	// a loopback, private, link-local or other special address; default
	// false (such a redirect fails).
	AllowPrivateRedirects bool
}

// Admin holds who may read the daemon's admin routes, /status.json and
// /metrics.
type Admin struct {
	// Allow are the networks whose clients may; others get 403. Default
	// 127.0.0.0/8 and ::1/128. Behind a reverse proxy every client has the
	// proxy's address.
	Allow []netip.Prefix
}

// WebSub holds the settings of WebSub (W3C Recommendation, 2018): the
// hubs our feeds name, the hub of our own, and subscriptions to the hubs
// of sources.
type WebSub struct {
	// Hubs are the hubs told (hub.mode=publish) of each feed that a render
	// changed, and named in every feed after our own; default none.
	Hubs []string
	// Hub makes the daemon the hub of its own feeds, at BASE_URL/websub;
	// default false.
	Hub bool
	// LeaseMin and LeaseMax bound the leases our hub grants; a subscriber
	// that asks for none gets LeaseMax. Default 1h and 10d.
	LeaseMin, LeaseMax time.Duration
	// AllowPrivateCallbacks lets our hub send requests to callbacks on
	// loopback, private, link-local and other special addresses; default
	// false.
	AllowPrivateCallbacks bool
	// AllowHTTPCallbacks lets our hub accept callbacks over plain HTTP;
	// default false (https only).
	AllowHTTPCallbacks bool
	// Subscribe subscribes to the hubs that sources name; default false.
	Subscribe bool
	// PollInterval is how often a source with a live subscription is
	// polled all the same; default 6h.
	PollInterval time.Duration
}

// Publish holds the settings of the output feeds.
type Publish struct {
	Items     int           // items in each output feed; default 50
	PerSource int           // most items of one source in any one feed; 0, the default, is no limit
	MaxAge    time.Duration // items dated longer ago are left out of the feeds; 0, the default, is no limit
}

// Retention says how many items storage keeps for each source.
type Retention struct {
	MaxItems int           // default 1000
	MaxAge   time.Duration // 0, the default, keeps items of any age
	// RemovedAfter is how long a source that left the config keeps its
	// items and state, in case it is put back; default 30 days, at least
	// an hour; 0 keeps them for ever.
	RemovedAfter time.Duration
}

// Section is a named group of sources with a feed of its own.
type Section struct {
	Name        string // unique; appears in URLs
	Title       string // defaults to Name
	Description string
}

// The defaults, as documented on Config and its parts.
const (
	defaultTitle       = aggregator.DefaultTitle
	defaultListen      = "127.0.0.1:8080"
	defaultDatabase    = "aggregator.db"
	defaultSchedule    = "@every 15m"
	defaultTimeout     = aggregator.DefaultFetchTimeout
	defaultConcurrency = 8
	defaultPerHost     = aggregator.DefaultPerHost
	defaultMaxBytes    = aggregator.DefaultMaxBytes
	defaultHeaderTime  = 15 * time.Second
	defaultMaxInterval = aggregator.DefaultMaxInterval
	defaultJitter      = time.Minute
	defaultItems       = aggregator.DefaultItems
	defaultMaxItems    = 1000
	defaultRemoved     = 30 * 24 * time.Hour
	defaultLeaseMin    = time.Hour
	defaultLeaseMax    = 10 * 24 * time.Hour
	defaultPushPoll    = 6 * time.Hour
)

// Load reads the YAML config file at path, applies the defaults and checks
// every value. Relative paths in it (database, local sources) are resolved
// against the file's directory, and local sources become file:// URLs whose
// Path is the file's absolute path. A source without a name gets one made
// from its URL: https://go.dev/blog/feed.atom is go-dev-blog-feed-atom,
// ./testdata/local-sample.atom is local-sample.
//
// When the file cannot be read, the error is the one from the os package,
// so errors.Is(err, fs.ErrNotExist) works; a path that is not a regular
// file is refused before it is opened, with a *fs.PathError of
// ErrNotRegular (opening a FIFO would wait for a writer for ever). Otherwise every mistake found is
// a *Error, sorted by line and joined with errors.Join; use errors.As to get
// at them. Load never returns both a Config and an error.
func Load(path string) (*Config, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("locate %s: %w", path, err)
	}
	ck := &checker{file: path, dir: dir}
	if r, ok := ck.decode(data); ok {
		cfg := ck.build(r)
		if len(ck.errs) == 0 {
			cfg.File = path
			return cfg, nil
		}
	}
	return nil, ck.err()
}

// Section returns the section called name, and whether there is one.
func (c *Config) Section(name string) (Section, bool) {
	for _, s := range c.Sections {
		if s.Name == name {
			return s, true
		}
	}
	return Section{}, false
}

// Source returns the source called name, and whether there is one.
func (c *Config) Source(name string) (aggregator.Source, bool) {
	for _, s := range c.Sources {
		if s.Name == name {
			return s, true
		}
	}
	return aggregator.Source{}, false
}
