package history

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/testenv"
)

// TestDashboards runs every query of dashboards/ (the Grafana panels and variables, and
// queries.sql) against ClickHouse holding the query fixture, with the placeholders filled in.
func TestDashboards(t *testing.T) {
	t.Parallel()
	addr := testenv.ClickHouse(t)
	db := randomDB("dash")
	c, err := NewClickHouse(t.Context(), Options{DSN: "clickhouse://" + addr + "/" + db, DataDir: t.TempDir(),
		FlushInterval: 20 * time.Millisecond, Now: testClock, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, c)
	makeFixture().record(t, s)
	stored(t, s)

	from, to := at(0, 0).Unix(), at(10, 0).Unix()
	grafana := strings.NewReplacer(
		"${db}", db, "${cluster}", "c1", "${member:sqlstring}", "'m1','m2'", "${text}", "ERROR",
		"$from", fmt.Sprint(from), "$to", fmt.Sprint(to), "$interval", "60",
	)
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Query string }
		}
		Templating struct {
			List []struct{ Name, Type, Query string }
		}
	}
	raw, err := os.ReadFile("../dashboards/strata-history.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	queries := map[string]string{}
	for _, p := range dash.Panels {
		for i, tg := range p.Targets {
			queries[fmt.Sprintf("panel %q/%d", p.Title, i)] = grafana.Replace(tg.Query)
		}
	}
	for _, v := range dash.Templating.List {
		if v.Type == "query" {
			queries["variable "+v.Name] = grafana.Replace(v.Query)
		}
	}

	sqlFile, err := os.ReadFile("../dashboards/queries.sql")
	if err != nil {
		t.Fatal(err)
	}
	// Empty filters mean "match any": the Go side leaves them out; here they get values.
	sqlArgs := strings.NewReplacer("{db}", db, "{from_ms}", fmt.Sprint(from*1000), "{to_ms}", fmt.Sprint(to*1000),
		"{from_day}", "'"+dayOf(from*1000)+"'", "{to_day}", "'"+dayOf(to*1000)+"'", "{step_ms}", "60000",
		"{cluster}", "'c1'", "{instance}", "'c1-1'", "{member}", "'m1'", "{metric}", "'load_average'",
		"{kind}", "'MemberAverageMemoryConsumptionEvent'", "{text}", "'ERROR'", "{limit}", "10", "{application}", "'app1'")
	var stmt strings.Builder
	n := 0
	for _, line := range strings.Split(string(sqlFile), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "--") {
			continue
		}
		stmt.WriteString(line + "\n")
		if strings.HasSuffix(strings.TrimSpace(line), ";") {
			n++
			q := strings.TrimSuffix(strings.TrimSpace(stmt.String()), ";")
			queries[fmt.Sprintf("queries.sql #%d", n)] = sqlArgs.Replace(q)
			stmt.Reset()
		}
	}
	leftover := regexp.MustCompile(`\$[a-z{]|\{[a-z_]+\}`)
	for name, q := range queries {
		t.Run(name, func(t *testing.T) {
			if m := leftover.FindString(q); m != "" {
				t.Fatalf("unfilled placeholder %q in\n%s", m, q)
			}
			rows, err := c.conn.Query(t.Context(), q)
			if err != nil {
				t.Fatalf("%v\n%s", err, q)
			}
			got := 0
			for rows.Next() {
				got++
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				t.Fatalf("%v\n%s", err, q)
			}
			if got == 0 && !strings.Contains(name, "In-flight") {
				t.Errorf("no rows from\n%s", q)
			}
		})
	}
}
