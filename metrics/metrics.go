// Package metrics is what a daemon exports at /metrics, in the
// Prometheus format: the outcome of every fetch (poll.Outcome), the HTTP
// requests it answers by route and status, its config reloads, and, read
// at each scrape, the state of the configured sources and the database's
// statistics. It imports the root package, poll and storage; the daemon
// feeds it.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/poll"
	"github.com/planetgo/aggregator/storage"
	"github.com/planetgo/aggregator/websub"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are what /metrics exports. They outlive reloads: the daemon
// makes them once, and its poller reports every outcome to them.
type Metrics struct {
	registry *prometheus.Registry

	fetches       *prometheus.CounterVec // source, result
	fetchErrors   *prometheus.CounterVec // source, kind
	fetchDuration prometheus.Histogram
	fetchBytes    *prometheus.CounterVec // source
	itemsStored   *prometheus.CounterVec // source, change
	httpRequests  *prometheus.CounterVec // route, code
	route         func(path string) string
	// requestCounters caches httpRequests' counters by route and code: a
	// label lookup per request costs more than serving a cached feed.
	requestCounters sync.Map               // requestKey → prometheus.Counter
	reloads         *prometheus.CounterVec // result
	reloadOK        prometheus.Gauge
	reloadTime      prometheus.Gauge
}

// New registers the daemon's metrics, the Go runtime's and the
// process's, and, at each scrape, the state of the sources configured then
// (sources()) as store holds it, and store's statistics. route gives the
// route label of a request's path: a few values, whatever clients ask for.
func New(store *storage.Store, sources func() []aggregator.Source, route func(path string) string) *Metrics {
	reg := prometheus.NewRegistry()
	f := registerer{reg}
	m := &Metrics{
		registry: reg,
		route:    route,
		fetches: f.counterVec("aggregator_fetches_total",
			"Fetches of sources by result: changed, unchanged, not_modified, error, gone or db_error.", "source", "result"),
		fetchErrors: f.counterVec("aggregator_fetch_errors_total",
			"Failed fetches by source and kind of failure.", "source", "kind"),
		fetchDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "aggregator_fetch_duration_seconds",
			Help:    "Time from request to stored result of each fetch.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}),
		fetchBytes: f.counterVec("aggregator_fetch_bytes_total",
			"Bytes of feed bodies fetched, after decompression.", "source"),
		itemsStored: f.counterVec("aggregator_items_stored_total",
			"Items stored by source: new ones, and ones whose content changed (updated).", "source", "change"),
		httpRequests: f.counterVec("aggregator_http_requests_total",
			"HTTP requests served by route and status code.", "route", "code"),
		reloads: f.counterVec("aggregator_config_reloads_total",
			"Config reloads (SIGHUP) by result: ok or invalid.", "result"),
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{Name: "aggregator_config_last_reload_successful",
			Help: "1 if the last config reload succeeded (or there was none), 0 if the config on disk is invalid."}),
		reloadTime: prometheus.NewGauge(prometheus.GaugeOpts{Name: "aggregator_config_last_reload_success_timestamp_seconds",
			Help: "When the config in force was loaded."}),
	}
	m.reloadOK.Set(1)
	m.reloadTime.SetToCurrentTime()
	reg.MustRegister(m.fetchDuration, m.reloadOK, m.reloadTime,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
		stateCollector{store, sources})
	return m
}

// registerer registers the vectors it makes.
type registerer struct{ reg prometheus.Registerer }

func (f registerer) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	f.reg.MustRegister(v)
	return v
}

// Fetched records the outcome of one fetch.
func (m *Metrics) Fetched(o poll.Outcome) {
	class := o.Class()
	if class == poll.ClassWaiting || class == poll.ClassCancelled {
		return // no request sent, or shut down mid-fetch: the source did nothing
	}
	name := o.Source.Name
	m.fetches.WithLabelValues(name, class.String()).Inc()
	if class == poll.ClassFailed || class == poll.ClassGone {
		m.fetchErrors.WithLabelValues(name, o.State.ErrorKind).Inc()
	}
	m.fetchDuration.Observe(o.Took.Seconds())
	if o.Bytes > 0 {
		m.fetchBytes.WithLabelValues(name).Add(float64(o.Bytes))
	}
	if o.Saved.New > 0 {
		m.itemsStored.WithLabelValues(name, "new").Add(float64(o.Saved.New))
	}
	if o.Saved.Updated > 0 {
		m.itemsStored.WithLabelValues(name, "updated").Add(float64(o.Saved.Updated))
	}
}

// Forget drops the series of sources that left the config, so that a
// scrape lists the sources configured. The caller must no longer hand it
// their outcomes (a pass of the old config may still fetch them):
// daemon.Daemon.Observe counts only the sources of the Setup in force.
func (m *Metrics) Forget(sources []string) {
	if m == nil {
		return
	}
	for _, name := range sources {
		for _, v := range []*prometheus.CounterVec{m.fetches, m.fetchErrors, m.fetchBytes, m.itemsStored} {
			v.DeletePartialMatch(prometheus.Labels{"source": name})
		}
	}
}

// Reloaded records a config reload.
func (m *Metrics) Reloaded(ok bool) {
	if ok {
		m.reloads.WithLabelValues("ok").Inc()
		m.reloadOK.Set(1)
		m.reloadTime.SetToCurrentTime()
		return
	}
	m.reloads.WithLabelValues("invalid").Inc()
	m.reloadOK.Set(0)
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Instrument counts the requests h answers by route and status.
func (m *Metrics) Instrument(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if rec.code == 0 {
			rec.code = http.StatusOK
		}
		m.requestCounter(m.route(r.URL.Path), rec.code).Inc()
	})
}

type requestKey struct {
	route string
	code  int
}

func (m *Metrics) requestCounter(route string, code int) prometheus.Counter {
	k := requestKey{route, code}
	if c, ok := m.requestCounters.Load(k); ok {
		return c.(prometheus.Counter)
	}
	c := m.httpRequests.WithLabelValues(route, strconv.Itoa(code))
	m.requestCounters.Store(k, c)
	return c
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// stateCollector reads, at each scrape, the state of the configured
// sources and the database's statistics.
type stateCollector struct {
	store   *storage.Store
	sources func() []aggregator.Source
}

var (
	descSources      = prometheus.NewDesc("aggregator_sources", "Configured sources.", nil, nil)
	descFailing      = prometheus.NewDesc("aggregator_sources_failing", "Configured sources whose last fetch failed, gone ones included.", nil, nil)
	descFailures     = prometheus.NewDesc("aggregator_source_consecutive_failures", "Failed fetches in a row of each configured source; 0 when its last fetch worked.", []string{"source"}, nil)
	descLastSuccess  = prometheus.NewDesc("aggregator_source_last_success_timestamp_seconds", "When each configured source was last fetched successfully; absent if never.", []string{"source"}, nil)
	descGone         = prometheus.NewDesc("aggregator_source_gone", "1 if the source answered 410 Gone and is no longer polled.", []string{"source"}, nil)
	descMoved        = prometheus.NewDesc("aggregator_source_moved", "1 if the source moved permanently and its url in the config should be updated.", []string{"source"}, nil)
	descDBSize       = prometheus.NewDesc("aggregator_db_size_bytes", "Size of the bbolt database file.", nil, nil)
	descDBFreePages  = prometheus.NewDesc("aggregator_db_free_pages", "Free pages in the bbolt freelist.", nil, nil)
	descDBPending    = prometheus.NewDesc("aggregator_db_pending_pages", "Pages freed by transactions still being read.", nil, nil)
	descDBFreeBytes  = prometheus.NewDesc("aggregator_db_free_bytes", "Bytes in free pages: what compact would give back.", nil, nil)
	descDBFreelist   = prometheus.NewDesc("aggregator_db_freelist_bytes", "Bytes the freelist takes.", nil, nil)
	descDBReadTxs    = prometheus.NewDesc("aggregator_db_read_transactions_total", "Read transactions started.", nil, nil)
	descDBOpenTxs    = prometheus.NewDesc("aggregator_db_open_read_transactions", "Read transactions open now.", nil, nil)
	descDBWrites     = prometheus.NewDesc("aggregator_db_page_writes_total", "Pages written by committed transactions.", nil, nil)
	descDBWriteTime  = prometheus.NewDesc("aggregator_db_write_seconds_total", "Time spent writing to the database file.", nil, nil)
	stateCollectorDs = []*prometheus.Desc{descSources, descFailing, descFailures, descLastSuccess, descGone, descMoved,
		descDBSize, descDBFreePages, descDBPending, descDBFreeBytes, descDBFreelist, descDBReadTxs, descDBOpenTxs, descDBWrites, descDBWriteTime}
)

func (c stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range stateCollectorDs {
		ch <- d
	}
}

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	sources := c.sources()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	states, err := c.store.States(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descFailing, err)
	} else {
		failing := 0
		for _, src := range sources {
			st := poll.StateFor(src, states[src.Name])
			if st.ConsecutiveFailures > 0 || st.Gone {
				failing++
			}
			gauge(descFailures, float64(st.ConsecutiveFailures), src.Name)
			if !st.LastSuccess.IsZero() {
				gauge(descLastSuccess, float64(st.LastSuccess.UnixNano())/1e9, src.Name)
			}
			gauge(descGone, boolValue(st.Gone), src.Name)
			gauge(descMoved, boolValue(poll.FetchURL(src, st) != src.URL), src.Name)
		}
		gauge(descSources, float64(len(sources)))
		gauge(descFailing, float64(failing))
	}
	db, err := c.store.Stats()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descDBSize, err)
		return
	}
	gauge(descDBSize, float64(db.SizeBytes))
	gauge(descDBFreePages, float64(db.FreePages))
	gauge(descDBPending, float64(db.PendingPages))
	gauge(descDBFreeBytes, float64(db.FreeBytes))
	gauge(descDBFreelist, float64(db.FreelistBytes))
	counter(descDBReadTxs, float64(db.ReadTxs))
	gauge(descDBOpenTxs, float64(db.OpenReadTxs))
	counter(descDBWrites, float64(db.Writes))
	counter(descDBWriteTime, db.WriteTime.Seconds())
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// RegisterPages exports, at each scrape, how many pages the theme failed
// on at the last render (failing()): they are served their last good
// version, else the built-in theme's, and the log says where the theme
// failed.
func (m *Metrics) RegisterPages(failing func() int) error {
	return m.registry.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "aggregator_pages_failing",
		Help: "Pages the theme failed on at the last render, served their last good version or the built-in theme's.",
	}, func() float64 { return float64(failing()) }))
}

// RegisterWebSub exports, at each scrape, the WebSub status that status
// returns (nil when WebSub is off): pings, our hub's subscriptions,
// requests and deliveries, and the pushes of sources' hubs.
func (m *Metrics) RegisterWebSub(status func() *websub.Status) error {
	return m.registry.Register(webSubCollector{status})
}

// webSubCollector exports the status of WebSub at each scrape.
type webSubCollector struct{ status func() *websub.Status }

var (
	pingsDesc = prometheus.NewDesc("aggregator_websub_pings_total",
		"Pings sent to each hub of websub.hubs, by result: ok or error.", []string{"hub", "result"}, nil)
	pingPendingDesc = prometheus.NewDesc("aggregator_websub_pings_pending",
		"Feeds waiting to be pinged to each hub of websub.hubs (retries included).", []string{"hub"}, nil)
	hubSubsDesc = prometheus.NewDesc("aggregator_websub_hub_subscriptions",
		"Subscriptions to our own hub.", nil, nil)
	hubDeliveriesDesc = prometheus.NewDesc("aggregator_websub_hub_deliveries_total",
		"Content our hub sent to subscribers, by result: ok or error.", []string{"result"}, nil)
	hubDroppedDesc = prometheus.NewDesc("aggregator_websub_hub_dropped_total",
		"Subscriptions our hub dropped after failed deliveries or a 410.", nil, nil)
	hubRequestsDesc = prometheus.NewDesc("aggregator_websub_hub_requests_total",
		"Subscription requests to our hub, by result: accepted or refused.", []string{"result"}, nil)
	subLiveDesc = prometheus.NewDesc("aggregator_websub_subscriptions",
		"Live subscriptions of ours to the hubs of sources.", nil, nil)
	subPushesDesc = prometheus.NewDesc("aggregator_websub_pushes_total",
		"Bodies the hubs of sources pushed to us, by result: taken (signed; then stored or dropped) or rejected.", []string{"result"}, nil)
	subDroppedDesc = prometheus.NewDesc("aggregator_websub_pushes_dropped_total",
		"Taken bodies dropped before they were stored, by reason: duplicate (byte-identical to one waiting) or overflow (oldest of a full queue; the source is polled soon).", []string{"reason"}, nil)
	subWaitingDesc = prometheus.NewDesc("aggregator_websub_pushes_waiting",
		"Taken bodies waiting to be stored.", nil, nil)
)

func (c webSubCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{pingsDesc, pingPendingDesc, hubSubsDesc, hubDeliveriesDesc, hubDroppedDesc, hubRequestsDesc, subLiveDesc, subPushesDesc, subDroppedDesc, subWaitingDesc} {
		ch <- d
	}
}

func (c webSubCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.status()
	if st == nil {
		return
	}
	for _, h := range st.Hubs {
		ch <- prometheus.MustNewConstMetric(pingsDesc, prometheus.CounterValue, float64(h.Pings-h.Failures), h.URL, "ok")
		ch <- prometheus.MustNewConstMetric(pingsDesc, prometheus.CounterValue, float64(h.Failures), h.URL, "error")
		ch <- prometheus.MustNewConstMetric(pingPendingDesc, prometheus.GaugeValue, float64(h.Pending), h.URL)
	}
	if h := st.Hub; h != nil {
		ch <- prometheus.MustNewConstMetric(hubSubsDesc, prometheus.GaugeValue, float64(h.Subscriptions))
		ch <- prometheus.MustNewConstMetric(hubDeliveriesDesc, prometheus.CounterValue, float64(h.Deliveries), "ok")
		ch <- prometheus.MustNewConstMetric(hubDeliveriesDesc, prometheus.CounterValue, float64(h.Failures), "error")
		ch <- prometheus.MustNewConstMetric(hubDroppedDesc, prometheus.CounterValue, float64(h.Dropped))
		ch <- prometheus.MustNewConstMetric(hubRequestsDesc, prometheus.CounterValue, float64(h.Requests-h.Refused), "accepted")
		ch <- prometheus.MustNewConstMetric(hubRequestsDesc, prometheus.CounterValue, float64(h.Refused), "refused")
	}
	if s := st.Subscriber; s != nil {
		ch <- prometheus.MustNewConstMetric(subLiveDesc, prometheus.GaugeValue, float64(s.Subscriptions))
		ch <- prometheus.MustNewConstMetric(subPushesDesc, prometheus.CounterValue, float64(s.Pushes), "taken")
		ch <- prometheus.MustNewConstMetric(subPushesDesc, prometheus.CounterValue, float64(s.Rejected), "rejected")
		ch <- prometheus.MustNewConstMetric(subDroppedDesc, prometheus.CounterValue, float64(s.Coalesced), "duplicate")
		ch <- prometheus.MustNewConstMetric(subDroppedDesc, prometheus.CounterValue, float64(s.Overflowed), "overflow")
		ch <- prometheus.MustNewConstMetric(subWaitingDesc, prometheus.GaugeValue, float64(s.Waiting))
	}
}
