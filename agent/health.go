package agent

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// procHealth reads the metrics of §2.6 from a proc file system: memory used = (MemTotal -
// MemAvailable) / MemTotal × 100 (MemFree + Buffers + Cached on kernels without MemAvailable),
// and load = 1-minute load average / CPU cores × 100.
func procHealth(root string) HealthReader {
	return func() (float64, float64, error) {
		mem, err := memoryPercent(filepath.Join(root, "meminfo"))
		if err != nil {
			return 0, 0, err
		}
		load, err := loadPercent(filepath.Join(root, "loadavg"), runtime.NumCPU())
		if err != nil {
			return 0, 0, err
		}
		return mem, load, nil
	}
}

func memoryPercent(path string) (float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("memory: %w", err)
	}
	kb := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(f[0], 64); err == nil {
			kb[name] = v
		}
	}
	total := kb["MemTotal"]
	if total <= 0 {
		return 0, fmt.Errorf("memory: no MemTotal in %s", path)
	}
	avail, ok := kb["MemAvailable"]
	if !ok {
		avail = kb["MemFree"] + kb["Buffers"] + kb["Cached"]
	}
	return (total - avail) / total * 100, nil
}

func loadPercent(path string, cores int) (float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("load: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, fmt.Errorf("load: empty %s", path)
	}
	l, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0, fmt.Errorf("load: %s: %w", path, err)
	}
	if cores < 1 {
		cores = 1
	}
	return l / float64(cores) * 100, nil
}
