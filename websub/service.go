package websub

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"sync"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/storage"
)

// Service is a daemon's WebSub: the pinger of the hubs its config names,
// which Configure replaces when they change, our own hub and the
// subscriber to the hubs of sources, which live as long as it. Its
// goroutines run until the context NewService was given ends; Wait waits
// for them. A nil *Service is one with nothing on: every method works.
type Service struct {
	ctx       context.Context
	logger    *slog.Logger
	userAgent string
	hub       *Hub        // nil without a hub of our own
	sub       *Subscriber // nil without subscriptions
	wg        sync.WaitGroup

	mu         sync.Mutex
	pinger     *Pinger // nil without hubs to ping
	pingHubs   []string
	stopPinger context.CancelFunc
}

// ServiceOptions say what a Service runs.
type ServiceOptions struct {
	Hub        *HubOptions        // our own hub's; nil for none
	Subscriber *SubscriberOptions // nil for no subscriptions to sources' hubs
	Ingest     IngestFunc         // what the subscriber hands pushed bodies to
	UserAgent  string             // of the pinger
	Logger     *slog.Logger       // nil → discard
}

// NewService starts the hub and the subscriber opts ask for, keeping
// their state in store, until ctx ends.
func NewService(ctx context.Context, store *storage.Store, opts ServiceOptions) (*Service, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{ctx: ctx, logger: opts.Logger, userAgent: opts.UserAgent}
	if opts.Hub != nil {
		hub, err := NewHub(ctx, store, *opts.Hub)
		if err != nil {
			return nil, err
		}
		s.hub = hub
		s.wg.Go(func() { hub.Run(ctx) })
	}
	if opts.Subscriber != nil {
		sub, err := NewSubscriber(ctx, store, opts.Ingest, *opts.Subscriber)
		if err != nil {
			return nil, err
		}
		s.sub = sub
		s.wg.Go(func() { sub.Run(ctx) })
	}
	return s, nil
}

// Configure puts the configured sources in force for the subscriber, and
// the hubs to ping: a new pinger when they changed. The hub's and the
// subscriber's own settings are the Service's: a daemon whose settings
// change stops it and starts another (their state is in the store).
func (s *Service) Configure(sources []aggregator.Source, pingHubs []string) {
	if s == nil {
		return
	}
	if s.sub != nil {
		s.sub.Configure(sources)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if slices.Equal(s.pingHubs, pingHubs) {
		return
	}
	if s.stopPinger != nil {
		s.stopPinger()
	}
	s.pinger, s.pingHubs, s.stopPinger = nil, slices.Clone(pingHubs), nil
	if len(pingHubs) == 0 {
		return
	}
	ctx, cancel := context.WithCancel(s.ctx)
	pinger := NewPinger(pingHubs, PingerOptions{UserAgent: s.userAgent, Logger: s.logger})
	s.pinger, s.stopPinger = pinger, cancel
	s.wg.Go(func() { pinger.Run(ctx) })
}

// Changed tells the hubs to ping and our hub's subscribers of the feeds a
// render changed; it never blocks.
func (s *Service) Changed(contents []Content) {
	if s == nil {
		return
	}
	s.mu.Lock()
	pinger := s.pinger
	s.mu.Unlock()
	if pinger != nil {
		urls := make([]string, 0, len(contents))
		for _, c := range contents {
			urls = append(urls, c.Topic)
		}
		pinger.Publish(urls)
	}
	if s.hub != nil {
		s.hub.Publish(contents)
	}
}

// Subscribed reports whether source has a live subscription.
func (s *Service) Subscribed(source string) bool {
	return s != nil && s.sub != nil && s.sub.Subscribed(source)
}

// Discovered hands the subscriber the hubs a fetch of src found, none
// included (see Subscriber.Discovered).
func (s *Service) Discovered(src aggregator.Source, hubs []string, self, fetchedURL string) {
	if s == nil || s.sub == nil {
		return
	}
	s.sub.Discovered(src, hubs, self, fetchedURL)
}

// SourceStatus is source's subscription in words; "" without one.
func (s *Service) SourceStatus(source string) string {
	if s == nil || s.sub == nil {
		return ""
	}
	return s.sub.Status(source)
}

// ServeHub serves our hub's route; false without a hub.
func (s *Service) ServeHub(w http.ResponseWriter, r *http.Request) bool {
	if s == nil || s.hub == nil {
		return false
	}
	s.hub.ServeHTTP(w, r)
	return true
}

// ServeCallback serves the subscriber's callbacks; false without one.
func (s *Service) ServeCallback(w http.ResponseWriter, r *http.Request) bool {
	if s == nil || s.sub == nil {
		return false
	}
	s.sub.ServeHTTP(w, r)
	return true
}

// Wait waits for the goroutines, once the context given to NewService
// ended.
func (s *Service) Wait() {
	if s != nil {
		s.wg.Wait()
	}
}

// Status is what /status.json shows of WebSub.
type Status struct {
	Hubs []HubStatus `json:"hubs,omitempty"` // the hubs pinged
	Hub  *HubStats   `json:"hub,omitempty"`  // our own
	// Subscriber counts the pushes from the hubs of sources.
	Subscriber *SubscriberStats `json:"subscriber,omitempty"`
}

// Status returns the state of what runs; nil when nothing does.
func (s *Service) Status() *Status {
	if s == nil {
		return nil
	}
	var st Status
	s.mu.Lock()
	if s.pinger != nil {
		st.Hubs = s.pinger.Status()
	}
	s.mu.Unlock()
	if s.hub != nil {
		hs := s.hub.Stats()
		st.Hub = &hs
	}
	if s.sub != nil {
		ss := s.sub.Stats()
		st.Subscriber = &ss
	}
	if st.Hubs == nil && st.Hub == nil && st.Subscriber == nil {
		return nil
	}
	return &st
}
