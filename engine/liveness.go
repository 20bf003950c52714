package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/switchboard-sms/switchboard/engine/config"
	"github.com/switchboard-sms/switchboard/inbox"
)

// Liveness: a process that dies lets go of its claims and its bind slots
// within seconds, not after the claim lease. Each process heartbeats its
// owner (PostgreSQL, dispatch_owners) and renews its bind slots (Redis);
// every process releases the claims of owners whose heartbeat is stale; a
// restarted instance takes its previous life's claims and slots back at
// once.
const (
	// heartbeatEvery is how often a process heartbeats and looks for dead
	// peers.
	heartbeatEvery = 2 * time.Second
	// staleAfter: an owner whose heartbeat is older is dead, and its
	// claims claimable. Three heartbeats and a pause; with heartbeatEvery
	// a dead process's claims move within about 8 s.
	staleAfter = 6 * time.Second
	// bindLeaseTTL is a bind slot's lease (renewed every third of it): a
	// dead process's binds move within it.
	bindLeaseTTL = 6 * time.Second
)

// openLiveness opens the small pool the heartbeat uses, apart from the
// engine's, so that a heartbeat never waits behind claims for a connection.
func openLiveness(ctx context.Context, cfg *config.Config) (*pgxpool.Pool, *inbox.Store, error) {
	pc, err := pgxpool.ParseConfig(cfg.Postgres.URL)
	if err != nil {
		return nil, nil, fmt.Errorf("postgres.url: %w", err)
	}
	pc.MaxConns = 2
	db, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, nil, fmt.Errorf("postgres: %w", err)
	}
	return db, inbox.New(db, inbox.Options{MessageTTL: cfg.Engine.MessageTTL.D()}), nil
}

// takeOver registers this process's owner and takes back at once the claims
// of this instance's previous life (a restart after a crash).
func (e *Engine) takeOver(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	dead, err := e.liveness.TakeOverInstance(ctx, e.owner, e.cfg.Engine.InstanceID)
	if err != nil {
		// The heartbeat registers it later; the dead life's claims then
		// come back when its heartbeat is stale.
		e.log.Warn("registering the dispatcher failed; retrying with the heartbeat", zap.String("owner", e.owner), zap.Error(err))
		return
	}
	e.logDead("took over the claims of this instance's previous process", dead)
}

// keepAlive heartbeats and releases the claims of dead peers until ctx
// ends. When another process has taken this instance over (its instance id
// is used twice), it stops dispatching here.
func (e *Engine) keepAlive(ctx context.Context, stopDispatch func()) {
	t := time.NewTicker(heartbeatEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		hctx, cancel := context.WithTimeout(ctx, heartbeatEvery)
		revived, err := e.liveness.Heartbeat(hctx, e.owner, e.cfg.Engine.InstanceID)
		switch {
		case errors.Is(err, inbox.ErrOwnerSuperseded):
			e.log.Error("another process took over this instance id: dispatching stops here (instance ids must be unique per process)",
				zap.String("instance", e.cfg.Engine.InstanceID), zap.String("owner", e.owner))
			cancel()
			stopDispatch()
			return
		case err != nil:
			e.log.Warn("heartbeat failed", zap.Error(err))
		case revived:
			e.log.Warn("this process's heartbeat had lapsed and its claims were released to others; registered again", zap.String("owner", e.owner))
		}
		dead, err := e.liveness.ReleaseDeadClaims(hctx, staleAfter)
		cancel()
		if err != nil {
			e.log.Warn("releasing dead processes' claims failed", zap.Error(err))
			continue
		}
		e.logDead("released the claims of a process that stopped heartbeating", dead)
		if dead.Messages > 0 {
			e.dispatcher.Kick()
		}
	}
}

func (e *Engine) logDead(msg string, dead inbox.DeadClaims) {
	for _, o := range dead.Owners {
		e.log.Warn(msg, zap.String("owner", o.Owner), zap.String("instance", o.Instance),
			zap.Time("last_heartbeat", o.HeartbeatAt), zap.Int("messages", o.Messages))
	}
}

// unregister removes this process's owner after the dispatcher stopped.
func (e *Engine) unregister() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if n, err := e.liveness.Unregister(ctx, e.owner); err != nil {
		e.log.Warn("unregistering the dispatcher failed; its row goes stale and is removed by a peer", zap.Error(err))
	} else if n > 0 {
		e.log.Info("released claims left at shutdown", zap.Int("messages", n))
	}
}

// assumeIdle tells the throttle that a carrier account needs no quiet
// period when PostgreSQL shows that nothing of it was sent within window
// (the longest rate interval): a fresh install, or one idle for longer,
// sends at once. Otherwise a Redis that lost its state waits one window
// before granting (package throttle), and says so in the log.
func (e *Engine) assumeIdle(ctx context.Context, carrier string, window time.Duration) {
	sent, err := e.store.SentRecently(ctx, carrier, window, e.cfg.Engine.Lease.D(), 2*time.Second)
	if err != nil {
		e.log.Warn("could not tell whether the carrier account sent recently; a quiet period applies if Redis lost its state",
			zap.String("carrier", carrier), zap.Error(err))
		return
	}
	if sent {
		return
	}
	if _, err := e.limiter.AssumeIdle(ctx, carrier); err != nil {
		e.log.Warn("throttle: assume idle failed", zap.String("carrier", carrier), zap.Error(err))
	}
}
