package websub

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/planetgo/aggregator/storage"
)

// A Service pings the hubs it is configured with when a feed changed,
// replaces its pinger only when they change, and stops pinging when none
// is left; a nil Service, WebSub off, does nothing and serves nothing.
func TestServicePingsTheConfiguredHubs(t *testing.T) {
	t.Parallel()
	store, err := storage.Open(filepath.Join(t.TempDir(), "s.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := NewService(ctx, store, ServiceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); s.Wait() }()
	if s.Status() != nil {
		t.Errorf("status with nothing on: %+v", s.Status())
	}
	hub := newRecordingHub(t)
	s.Configure(nil, []string{hub.URL})
	first := s.pinger
	s.Changed([]Content{{Topic: "https://planet.example/feed.atom"}})
	if f := waitForm(t, hub); f.Get("hub.mode") != "publish" || f.Get("hub.url") != "https://planet.example/feed.atom" {
		t.Errorf("ping %v", f)
	}
	s.Configure(nil, []string{hub.URL})
	if s.pinger != first {
		t.Error("the same hubs replaced the pinger")
	}
	if st := s.Status(); st == nil || len(st.Hubs) != 1 || st.Hubs[0].URL != hub.URL {
		t.Errorf("status %+v, want the hub", st)
	}
	s.Configure(nil, nil)
	s.Changed([]Content{{Topic: "https://planet.example/feed.rss"}})
	if s.Status() != nil {
		t.Errorf("status with no hubs left: %+v", s.Status())
	}

	var off *Service
	off.Configure(nil, []string{hub.URL})
	off.Changed([]Content{{Topic: "x"}})
	rec := httptest.NewRecorder()
	if off.ServeHub(rec, httptest.NewRequest("POST", "/websub", nil)) || off.ServeCallback(rec, httptest.NewRequest("POST", "/websub/callback/x", nil)) || off.Subscribed("a") || off.Status() != nil {
		t.Error("a nil Service did something")
	}
	off.Wait()
}
