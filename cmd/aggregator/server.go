package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	sd "github.com/coreos/go-systemd/v22/daemon"
	"github.com/planetgo/aggregator/config"
	"github.com/planetgo/aggregator/daemon"
	"github.com/planetgo/aggregator/metrics"
	"golang.org/x/sys/unix"
)

// reloader reads the config file again on SIGHUP and has the daemon put it
// in force.
type reloader struct {
	daemon  *daemon.Daemon
	eng     *engine
	metrics *metrics.Metrics
	logger  *slog.Logger
	cfg     *config.Config // in force
}

// reload re-reads the config file. If it is invalid, every problem is
// logged with its line and the daemon goes on with the config in force.
// If it is valid, the new config replaces the old at once (daemon.Apply):
// sources, the schedule, the outputs and WebSub. Settings that need a
// restart keep their old value.
func (r *reloader) reload(ctx context.Context) {
	old := r.cfg
	notify(r.logger, reloadingState())
	defer notify(r.logger, sd.SdNotifyReady)
	r.logger.Info("reloading config", "file", old.File)
	cfg, err := config.Load(old.File)
	if err != nil {
		r.metrics.Reloaded(false)
		for _, e := range configErrors(err) {
			r.logger.Error("config invalid; keeping the config in force", "err", e)
		}
		return
	}
	cfg.UseStateDirectory(os.Getenv("STATE_DIRECTORY"))
	for _, s := range config.KeepRestartSettings(old, cfg) {
		r.logger.Warn("setting changed; ignored until restart", "key", s.Key, "in_force", s.InForce, "in_file", s.InFile)
	}
	a, err := r.eng.app(cfg, r.logger)
	if err == nil {
		err = r.daemon.Apply(ctx, a.setup())
	}
	if err != nil {
		r.metrics.Reloaded(false)
		// A theme's mistakes come joined, one per template line.
		for _, e := range configErrors(err) {
			r.logger.Error("reload failed; keeping the config in force", "err", e)
		}
		return
	}
	r.cfg = cfg
	r.metrics.Reloaded(true)
	added, removed := old.SourceChanges(cfg)
	r.logger.Info("config reloaded", "sources", len(cfg.Sources), "added", added, "removed", removed)
}

// notify sends state to systemd; without $NOTIFY_SOCKET it does nothing.
func notify(logger *slog.Logger, state string) {
	if _, err := sd.SdNotify(false, state); err != nil {
		logger.Warn("notify systemd", "state", state, "err", err)
	}
}

// reloadingState is RELOADING=1 with the MONOTONIC_USEC that
// Type=notify-reload requires (sd_notify(3)).
func reloadingState() string {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return sd.SdNotifyReloading
	}
	return fmt.Sprintf("%s\nMONOTONIC_USEC=%d", sd.SdNotifyReloading, ts.Nano()/1000)
}
