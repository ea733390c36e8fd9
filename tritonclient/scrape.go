package tritonclient

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// ScrapeMetrics fetches and parses a Triton metrics page. addr is host:port
// of the metrics endpoint (path /metrics) or a full URL; hc nil means
// http.DefaultClient. Transport failures wrap ErrUnavailable.
func ScrapeMetrics(ctx context.Context, hc *http.Client, addr string) (*Metrics, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	url := addr
	if !strings.Contains(addr, "://") {
		url = "http://" + addr + "/metrics"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("scrape %s: %w", url, ctx.Err())
		}
		return nil, fmt.Errorf("scrape %s: %w: %v", url, ErrUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil, fmt.Errorf("scrape %s: %w: HTTP %s", url, ErrUnavailable, resp.Status)
	}
	m, err := ParseMetrics(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	return m, nil
}
