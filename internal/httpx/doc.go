// Package httpx holds the small HTTP helpers the API and the dashboard
// share: who a client is (ClientIP) and how many failed attempts it may
// make (Limiter).
package httpx
