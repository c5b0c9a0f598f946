package config_test

import (
	"errors"
	"fmt"

	"github.com/bakery-deploy/bakery/internal/config"
)

// ExampleParse shows how a caller prints every problem in a file.
func ExampleParse() {
	src := `services:
  - name: web
    environments:
      - name: staging
        deploy:
          command: ["./deploy.sh", "staging"]
      - name: production
        bake: 1x
        deploy:
          command: ["./deploy.sh", "production"]
`
	_, err := config.Parse("bakery.yaml", []byte(src))
	var verr *config.ValidationError
	if errors.As(err, &verr) {
		for _, p := range verr.Problems {
			fmt.Println(p)
		}
	}
	// Output:
	// bakery.yaml:8:15: services[0].environments[1].bake: invalid duration "1x"; write a Go duration such as 30s, 10m or 1h
}

// ExampleParse_canary shows the problems of a canary whose traffic moves
// through the load balancer (set_weight) but whose metric reads bakery's
// own router, and whose step asks for more than all the traffic.
func ExampleParse_canary() {
	src := `services:
  - name: web
    environments:
      - name: staging
        deploy:
          command: ["./deploy.sh", "staging"]
      - name: production
        deploy:
          command: ["./deploy.sh", "production"]
        canary:
          deploy:
            command: ["./deploy.sh", "production-canary"]
          set_weight:
            command: ["./weights.sh"]
          steps:
            - {weight: 150, for: 5m}
          analysis:
            metrics:
              - {name: errors, router: error_rate}
`
	_, err := config.Parse("bakery.yaml", []byte(src))
	var verr *config.ValidationError
	if errors.As(err, &verr) {
		for _, p := range verr.Problems {
			fmt.Println(p)
		}
	}
	// Output:
	// bakery.yaml:16:24: services[0].environments[1].canary.steps[0].weight: weight must be a whole percentage from 1 to 100 (the canary's share of traffic); got "150"
	// bakery.yaml:19:40: services[0].environments[1].canary.analysis.metrics[0].router: router metrics need canary.router; with set_weight, read metrics from prometheus
}
