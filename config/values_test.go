package config

import (
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"0", 0, false},
		{"30s", 30 * time.Second, false},
		{"1h30m", 90 * time.Minute, false},
		{"7d", 7 * 24 * time.Hour, false},
		{"0d", 0, false},
		{"1d12h", 36 * time.Hour, false},
		{"2d0.5h", 48*time.Hour + 30*time.Minute, false},
		{"106751d", 106751 * 24 * time.Hour, false},
		{"", 0, true},
		{"30", 0, true},
		{"-5s", 0, true},
		{"-1d", 0, true},
		{"+1d", 0, true},
		{"1.5d", 0, true},
		{"d", 0, true},
		{"1d1d", 0, true},
		{"1d-1h", 0, true},
		{"7 days", 0, true},
		{"106752d", 0, true},
		{"106751d24h", 0, true},
		{"9999999999999999999999d", 0, true},
	}
	for _, tt := range tests {
		got, err := parseDuration(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"0", 0, false},
		{"1048576", 1 << 20, false},
		{"100B", 100, false},
		{"10KB", 10_000, false},
		{"10kb", 10_000, false},
		{"3MB", 3_000_000, false},
		{"2GB", 2_000_000_000, false},
		{"64KiB", 64 << 10, false},
		{"10MiB", 10 << 20, false},
		{"10 MiB", 10 << 20, false},
		{"1gib", 1 << 30, false},
		{"8589934591GiB", 8589934591 << 30, false},
		{"", 0, true},
		{"MiB", 0, true},
		{"-1", 0, true},
		{"1.5MB", 0, true},
		{"10MiBs", 0, true},
		{"1TB", 0, true},
		{"10 M", 0, true},
		{"0x10", 0, true},
		{"8589934592GiB", 0, true},
		{"99999999999999999999", 0, true},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseSize(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestCheckSchedule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		spec string
		want string // the error's text; "" for none
	}{
		{"@every 15m", ""},
		{"@hourly", ""},
		{"*/5 * * * *", ""},
		{"0 6 * * mon-fri", ""},
		{"TZ=UTC 0 6 * * *", ""},
		{"0 0 29 2 *", ""},
		{"every 5m", `is not a cron spec (try "*/5 * * * *" or "@every 5m")`},
		{"every 1m", `is not a cron spec (try "* * * * *" or "@every 1m")`},
		{"@every5m", `is not a cron spec (try "*/5 * * * *" or "@every 5m")`},
		{"1h", `is not a cron spec (try "@hourly" or "@every 1h")`},
		{"6h", `is not a cron spec (try "0 */6 * * *" or "@every 6h")`},
		{"1d", `is not a cron spec (try "@daily" or "@every 24h")`},
		{"7d", `is not a cron spec (try "@weekly" or "@every 168h")`},
		{"every 7m", `is not a cron spec (try "@every 7m")`},
		{"every 90s", `is not a cron spec (try "@every 1m30s")`},
		{"TZ=UTC", `is not a cron spec: want a time zone and then a schedule (e.g. "*/15 * * * *", "@hourly" or "@every 15m")`},
		{"CRON_TZ=UTC", `is not a cron spec: want a time zone and then a schedule (e.g. "*/15 * * * *", "@hourly" or "@every 15m")`},
		{"", `is not a cron spec: empty spec string (e.g. "*/15 * * * *", "@hourly" or "@every 15m")`},
		{"@every 0s", "repeats more often than every second"},
		{"TZ=UTC @every 500ms", "repeats more often than every second"},
		{"0 0 31 4 *", "never fires"},
	}
	for _, tt := range tests {
		err := checkSchedule(tt.spec)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("checkSchedule(%q) = %q, want %q", tt.spec, got, tt.want)
		}
	}
}

func TestSlug(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"go.dev/blog/feed.atom", "go-dev-blog-feed-atom"},
		{"Go.Dev//Blog", "go-dev-blog"},
		{"--a--b--", "a-b"},
		{"bücher.de/feed", "b-cher-de-feed"},
		{"...", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := slug(tt.in); got != tt.want {
			t.Errorf("slug(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestIsName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want bool
	}{
		{"go", true},
		{"go-blog", true},
		{"0day", true},
		{"a.b_c-d", true},
		{"", false},
		{"Go", false},
		{"-go", false},
		{".go", false},
		{"_go", false},
		{"go blog", false},
		{"go/blog", false},
		{"gö", false},
	}
	for _, tt := range tests {
		if got := isName(tt.in); got != tt.want {
			t.Errorf("isName(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
