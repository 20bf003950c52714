package engine

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// dependencyCheckEvery is how often the engine checks that PostgreSQL and
// Redis answer.
const dependencyCheckEvery = 2 * time.Second

// watchDependencies pings PostgreSQL and Redis until ctx ends and logs,
// once per outage, an error line when one stops answering (a person must
// act: nothing is claimed, recorded or granted meanwhile) and an info line
// when it answers again. The field "dependency" names it (postgres,
// redis).
func (e *Engine) watchDependencies(ctx context.Context) {
	t := time.NewTicker(dependencyCheckEvery)
	defer t.Stop()
	down := map[string]time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, dep := range []struct {
			name string
			ping func(context.Context) error
		}{
			{"postgres", e.db.Ping},
			{"redis", func(ctx context.Context) error { return e.rdb.Ping(ctx).Err() }},
		} {
			pctx, cancel := context.WithTimeout(ctx, dependencyCheckEvery)
			err := dep.ping(pctx)
			cancel()
			if ctx.Err() != nil {
				return
			}
			since, wasDown := down[dep.name]
			switch {
			case err != nil && !wasDown:
				down[dep.name] = time.Now()
				e.log.Error(dep.name+" unavailable: sending and filing stop until it answers", zap.String("dependency", dep.name), zap.Error(err))
			case err == nil && wasDown:
				delete(down, dep.name)
				e.log.Info(dep.name+" answers again", zap.String("dependency", dep.name), zap.Duration("down_for", time.Since(since)))
			}
		}
	}
}
