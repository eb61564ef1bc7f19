package history

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

const benchRows = 1_000_000

var (
	benchMembers  [1000]string
	benchClusters [10]string
	benchInsts    [10]string
	benchParts    = [3]string{"p0", "p1", "p2"}
)

func init() {
	for i := range benchMembers {
		benchMembers[i] = fmt.Sprintf("php.php.domain%d-member-%04d", i%10, i)
	}
	for i := range benchClusters {
		benchClusters[i] = fmt.Sprintf("app%d.php.php.domain", i)
		benchInsts[i] = fmt.Sprintf("app%d-1", i)
	}
}

// benchRow is health row i of the benchmark: 1000 members in 10 clusters, two metrics, one sample
// per member and metric per second.
func benchRow(i int, base int64) model.HealthSample {
	m := i % 1000
	return model.HealthSample{
		ClusterID: benchClusters[m%10], ClusterInstanceID: benchInsts[m%10], NetworkPartitionID: "np-1",
		MemberID: benchMembers[m], PartitionID: benchParts[m%3],
		Metric: []string{model.MetricLoadAverage, model.MetricMemoryConsumption}[i/1000%2],
		Value:  float64(i%1000) / 8, Timestamp: base + int64(i/2000)*1000,
	}
}

// BenchmarkWriteHealth writes 1M 8-column health rows through the writer (Record → batches →
// ClickHouse) and, in the same run and into the same table layout, inserts the same rows from a
// TSV file with clickhouse-client. It reports both rates and the writer's peak heap.
//
// The producer respects the writer's documented backpressure signal: it waits while the rows
// queued in memory exceed what the memory queue holds, as a bulk producer should (a real-time
// producer would let the writer spill to the spool instead).
func BenchmarkWriteHealth(b *testing.B) {
	addr := testenv.ClickHouse(b)
	host, port, _ := strings.Cut(addr, ":")
	client, err := exec.LookPath("clickhouse-client")
	if err != nil {
		b.Skip("clickhouse-client not installed")
	}
	db := randomDB("bench")
	const batch = 50_000
	c, err := NewClickHouse(b.Context(), Options{DSN: "clickhouse://" + addr + "/" + db, DataDir: b.TempDir(),
		BatchSize: batch, QueueBatches: 4, FlushInterval: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	if !c.ready.Load() {
		b.Fatal("clickhouse not ready")
	}
	exec1 := func(q string) {
		if err := c.conn.Exec(b.Context(), q); err != nil {
			b.Fatalf("%s: %v", q, err)
		}
	}
	exec1("CREATE TABLE " + db + ".health_tsv AS " + db + ".health")
	base := time.Now().Add(-time.Hour).UnixMilli()

	// The TSV of the same rows, with the same batch_id and seq columns the writer adds.
	tsv := filepath.Join(b.TempDir(), "health.tsv")
	f, err := os.Create(tsv)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i := range benchRows {
		r := benchRow(i, base)
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\n", r.Timestamp, r.ClusterID, r.ClusterInstanceID,
			r.NetworkPartitionID, r.MemberID, r.PartitionID, r.Metric, strconv.FormatFloat(r.Value, 'g', -1, 64),
			i/batch+1, i%batch)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()

	r := run(b, c)
	defer r.stop(b)
	var strataSec, clientSec float64
	var peak uint64
	iters := 0
	for b.Loop() {
		iters++
		exec1("TRUNCATE TABLE " + db + ".health")
		exec1("TRUNCATE TABLE " + db + ".health_tsv")
		before := c.Stats().Inserted

		// Peak heap while the writer works.
		stop := make(chan struct{})
		sampled := make(chan uint64)
		go func() {
			var ms runtime.MemStats
			var p uint64
			t := time.NewTicker(20 * time.Millisecond)
			defer t.Stop()
			for {
				runtime.ReadMemStats(&ms)
				p = max(p, ms.HeapInuse)
				select {
				case <-stop:
					sampled <- p
					return
				case <-t.C:
				}
			}
		}()

		start := time.Now()
		var chunk [1000]model.HealthSample
		for i := 0; i < benchRows; i += len(chunk) {
			for j := range chunk {
				chunk[j] = benchRow(i+j, base)
			}
			for c.c.queued.Load() > 2*batch {
				time.Sleep(100 * time.Microsecond)
			}
			if !c.RecordHealth(chunk[:]...) {
				b.Fatal("rows refused")
			}
		}
		for c.Stats().Inserted-before < benchRows {
			time.Sleep(time.Millisecond)
		}
		strataSec += time.Since(start).Seconds()
		close(stop)
		peak = max(peak, <-sampled)

		in, err := os.Open(tsv)
		if err != nil {
			b.Fatal(err)
		}
		cmd := exec.Command(client, "--host", host, "--port", port, "--query",
			"INSERT INTO "+db+".health_tsv ("+insertColumns[tHealth]+") FORMAT TabSeparated")
		cmd.Stdin = in
		start = time.Now()
		out, err := cmd.CombinedOutput()
		clientSec += time.Since(start).Seconds()
		in.Close()
		if err != nil {
			b.Fatalf("clickhouse-client: %v: %s", err, out)
		}
	}
	b.StopTimer()
	got := scalar(b, c, "SELECT count() FROM "+db+".health")
	want := scalar(b, c, "SELECT count() FROM "+db+".health_tsv")
	if got != benchRows || want != benchRows {
		b.Fatalf("rows: writer %d, clickhouse-client %d; want %d each", got, want, benchRows)
	}
	if st := c.Stats(); st.Spooled != 0 || st.Dropped != 0 {
		b.Logf("stats %+v", st)
	}
	b.ReportMetric(float64(iters*benchRows)/strataSec, "strata-rows/s")
	b.ReportMetric(float64(iters*benchRows)/clientSec, "client-rows/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(0, "ns/op")
}
