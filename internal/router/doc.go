// Package router is bakery's built-in HTTP canary router: a reverse proxy in
// front of two versions of one service, the stable version (the baseline)
// and the canary.
//
// A Router splits incoming requests by the canary's weight, 0 to 100 percent,
// and records for each version ("track") every request's status and latency.
// Canary analysis reads those samples back with Samples and turns them into
// the judge's inputs with ErrorRates and Latencies.
//
// # The split
//
// The split is deterministic, not random: requests are numbered in the order
// they arrive (n = 0, 1, 2, …) and request n goes to the canary exactly when
// floor((n+1)·w/100) > floor(n·w/100). Any 100 consecutive requests at weight
// w therefore send exactly w of them to the canary, spread as evenly as
// possible, so a canary at 5 % sees traffic within the first 20 requests
// instead of whenever chance allows. A new weight applies from the next
// request on.
//
// # What is recorded
//
// With Options.TrackHeader, every response carries the header X-Bakery-Track
// (stable or canary), so a client can tell which version answered; it is
// off by default (and a backend's own X-Bakery-Track is removed), since it
// would let any client retry until it reaches the canary. Each request
// leaves one Sample on its track:
//
//   - the status the client received, or 502 when the backend could not be
//     reached, did not start its response within
//     Options.ResponseHeaderTimeout, or broke it off in the middle of the
//     body (the client's 502 names no backend; the log does);
//   - StatusClientClosed (499) when the client went away first: that says
//     nothing about the backend, so it is not counted as an error;
//   - 101 for a protocol upgrade (WebSocket), with the latency up to the
//     switch, not the life of the connection.
//
// Samples are kept for Options.Keep and at most Options.MaxSamples per
// track; recording one costs a mutex and a slot in a ring buffer.
package router
