// Command fakecli stands in for the aws and kubectl command-line tools in
// the deploy examples' tests (examples/ecs, examples/kubernetes), where no
// AWS account or Kubernetes cluster can be reached. Installed under the
// name aws or kubectl, it accepts the subcommands the examples use, checks
// every argument against the tool's documented syntax (unknown options,
// missing required ones, malformed values and ARNs are refused the way the
// tool refuses them, with its exit codes), keeps the state of the fake
// cloud in a JSON file (FAKECLI_STATE), and answers with the tool's output
// shapes: AWS's JSON documents (or --output text with a --query path),
// kubectl's one-line messages. Scenarios in the state file make rollouts
// fail or never finish, so that the examples' failure paths are tested.
//
// What it models, from the tools' references:
//
//   - aws ecs register-task-definition --cli-input-json file://F|JSON
//   - aws ecs update-service --cluster C --service S [--task-definition TD]
//     [--desired-count N] [--force-new-deployment]
//   - aws ecs describe-services --cluster C --services S...
//   - aws ecs wait services-stable --cluster C --services S...: polls until
//     length(services[?!(length(deployments) == 1 && runningCount ==
//     desiredCount)]) == 0; after 40 failed checks it exits 255 with
//     "Waiter ServicesStable failed: Max attempts exceeded"
//   - aws elbv2 modify-listener --listener-arn ARN --default-actions JSON
//   - aws elbv2 modify-rule --rule-arn ARN --actions JSON
//   - kubectl set image TYPE/NAME CONTAINER=IMAGE...
//   - kubectl rollout status TYPE/NAME [--timeout=D] [--watch=B]: exits 1
//     with "error: timed out waiting for the condition" at the timeout, or
//     "error: deployment "NAME" exceeded its progress deadline"
//   - kubectl annotate [--overwrite] TYPE/NAME KEY=VALUE...
//   - kubectl scale TYPE/NAME --replicas=N
//
// AWS's exit codes: 252 for a command line that does not parse or a
// parameter that fails validation, 254 for an error the service returned,
// 255 for a waiter that gave up. kubectl exits 1 on every error.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bakery-deploy/bakery/test/fakecli"
)

var state *fakecli.State

func main() {
	tool := filepath.Base(os.Args[0])
	path := os.Getenv("FAKECLI_STATE")
	if path == "" {
		fmt.Fprintf(os.Stderr, "fakecli: FAKECLI_STATE is not set: the stand-in for %s needs its state file\n", tool)
		os.Exit(253)
	}
	lock, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err == nil {
		_ = syscall.Flock(int(lock.Fd()), syscall.LOCK_EX)
	}
	state = load(path)
	state.Calls = append(state.Calls, append([]string{tool}, os.Args[1:]...))
	code := 0
	switch tool {
	case "aws":
		code = runAWS(os.Args[1:])
	case "kubectl":
		code = runKubectl(os.Args[1:])
	default:
		fmt.Fprintf(os.Stderr, "fakecli: installed as %q; install it as aws or kubectl\n", tool)
		code = 2
	}
	save(path)
	os.Exit(code)
}

func load(path string) *fakecli.State {
	s := &fakecli.State{}
	b, err := os.ReadFile(path)
	if err == nil && len(b) > 0 {
		if err := json.Unmarshal(b, s); err != nil {
			fmt.Fprintf(os.Stderr, "fakecli: state file %s: %v\n", path, err)
			os.Exit(253)
		}
	}
	if s.Region == "" {
		s.Region = "us-east-1"
	}
	if s.Account == "" {
		s.Account = "123456789012"
	}
	if s.TaskDefinitions == nil {
		s.TaskDefinitions = map[string][]map[string]any{}
	}
	if s.Services == nil {
		s.Services = map[string]*fakecli.ECSService{}
	}
	if s.Listeners == nil {
		s.Listeners = map[string][]any{}
	}
	if s.Rules == nil {
		s.Rules = map[string][]any{}
	}
	if s.Deployments == nil {
		s.Deployments = map[string]*fakecli.K8sDeployment{}
	}
	if s.Ingresses == nil {
		s.Ingresses = map[string]map[string]string{}
	}
	return s
}

func save(path string) {
	b, _ := json.MarshalIndent(state, "", "  ")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err == nil {
		_ = os.Rename(tmp, path)
	}
}

// --- aws ---

// awsGlobal are the AWS CLI's global options that take a value; the
// boolean ones are listed in awsGlobalFlags.
var (
	awsGlobal      = map[string]bool{"--region": true, "--output": true, "--query": true, "--profile": true, "--endpoint-url": true, "--color": true, "--cli-read-timeout": true, "--cli-connect-timeout": true, "--ca-bundle": true, "--cli-binary-format": true}
	awsGlobalFlags = map[string]bool{"--debug": true, "--no-verify-ssl": true, "--no-paginate": true, "--no-sign-request": true, "--no-cli-pager": true, "--no-cli-auto-prompt": true}
)

type awsCmd struct {
	service, op string
	opts        map[string][]string
	output      string
	query       string
}

func awsUsage(msg string) int {
	fmt.Fprintf(os.Stderr, "\nusage: aws [options] <command> <subcommand> [<subcommand> ...] [parameters]\nTo see help text, you can run:\n\n  aws help\n  aws <command> help\n  aws <command> <subcommand> help\n\naws: error: %s\n", msg)
	return 252
}

func runAWS(args []string) int {
	c := awsCmd{opts: map[string][]string{}, output: "json"}
	var pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "--") {
			pos = append(pos, a)
			continue
		}
		name, val, hasVal := strings.Cut(a, "=")
		if awsGlobalFlags[name] {
			continue
		}
		var vals []string
		if hasVal {
			vals = []string{val}
		} else {
			for i+1 < len(args) && !strings.HasPrefix(args[i+1], "--") {
				i++
				vals = append(vals, args[i])
			}
		}
		if awsGlobal[name] {
			if len(vals) != 1 {
				return awsUsage(fmt.Sprintf("argument %s: expected one argument", name))
			}
			switch name {
			case "--output":
				if !contains([]string{"json", "text", "table", "yaml", "yaml-stream"}, vals[0]) {
					return awsUsage(fmt.Sprintf("argument --output: Invalid choice, valid choices are:\n\njson                                     | text\ntable                                    | yaml\nyaml-stream                             "))
				}
				c.output = vals[0]
			case "--query":
				c.query = vals[0]
			case "--region":
				state.Region = vals[0]
			}
			continue
		}
		c.opts[name] = vals
	}
	if len(pos) < 2 {
		return awsUsage("the following arguments are required: command, operation")
	}
	c.service, c.op = pos[0], pos[1]
	extra := pos[2:]
	switch c.service + " " + c.op {
	case "ecs register-task-definition":
		return c.registerTaskDefinition()
	case "ecs update-service":
		return c.updateService()
	case "ecs describe-services":
		return c.describeServices()
	case "ecs wait":
		if len(extra) != 1 || extra[0] != "services-stable" {
			return awsUsage("argument subcommand: Invalid choice: the stand-in knows the waiter services-stable only")
		}
		return c.waitServicesStable()
	case "elbv2 modify-listener":
		return c.modifyForward("ModifyListener", "--listener-arn", "--default-actions", state.Listeners, "Listeners", "ListenerArn", "DefaultActions", "ListenerNotFound", "One or more listeners not found")
	case "elbv2 modify-rule":
		return c.modifyForward("ModifyRule", "--rule-arn", "--actions", state.Rules, "Rules", "RuleArn", "Actions", "RuleNotFound", "One or more rules not found")
	}
	return awsUsage(fmt.Sprintf("argument operation: Invalid choice: %s %s is not a command the stand-in knows", c.service, c.op))
}

// check refuses options the operation does not have, and missing required
// ones, as the CLI's parser does.
func (c *awsCmd) check(known []string, required ...string) int {
	var unknown []string
	for name := range c.opts {
		if !contains(known, name) && !contains(required, name) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return awsUsage("Unknown options: " + strings.Join(unknown, ", "))
	}
	var missing []string
	for _, r := range required {
		if _, ok := c.opts[r]; !ok {
			missing = append(missing, r)
		}
	}
	if len(missing) > 0 {
		return awsUsage("the following arguments are required: " + strings.Join(missing, ", "))
	}
	for name, v := range c.opts {
		if len(v) == 0 && !contains([]string{"--force-new-deployment", "--no-force-new-deployment"}, name) {
			return awsUsage(fmt.Sprintf("argument %s: expected one argument", name))
		}
	}
	return 0
}

func (c *awsCmd) one(name string) string {
	if v := c.opts[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// serviceError is an error the AWS service answered: exit 254.
func serviceError(code, op, msg string) int {
	fmt.Fprintf(os.Stderr, "\nAn error occurred (%s) when calling the %s operation: %s\n", code, op, msg)
	return 254
}

// paramError is a parameter the CLI's validation refused: exit 252.
func paramError(msg string) int {
	fmt.Fprintf(os.Stderr, "\nParameter validation failed:\n%s\n", msg)
	return 252
}

// print writes v as the CLI would for --output and --query.
func (c *awsCmd) print(v any) int {
	if c.query != "" {
		got, ok := jmesPath(v, c.query)
		if !ok {
			return awsUsage(fmt.Sprintf("argument --query: Bad value for --query %s: the stand-in understands dotted paths with [N] indexes only", c.query))
		}
		v = got
	}
	switch c.output {
	case "text":
		switch x := v.(type) {
		case nil:
			fmt.Println("None")
		case string:
			fmt.Println(x)
		case float64, int, bool:
			fmt.Println(x)
		case []any:
			parts := make([]string, 0, len(x))
			for _, e := range x {
				parts = append(parts, fmt.Sprint(e))
			}
			fmt.Println(strings.Join(parts, "\t"))
		default:
			b, _ := json.Marshal(x)
			fmt.Println(string(b))
		}
	default:
		b, _ := json.MarshalIndent(v, "", "    ")
		fmt.Println(string(b))
	}
	return 0
}

var pathPart = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)$`)

// jmesPath evaluates the dotted-path subset of JMESPath (a.b[0].c).
func jmesPath(v any, q string) (any, bool) {
	// Normalise through JSON so typed structs become maps.
	b, _ := json.Marshal(v)
	var cur any
	_ = json.Unmarshal(b, &cur)
	for _, part := range strings.Split(q, ".") {
		m := pathPart.FindStringSubmatch(part)
		if m == nil {
			return nil, false
		}
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, true
		}
		cur = obj[m[1]]
		for _, ix := range regexp.MustCompile(`\d+`).FindAllString(m[2], -1) {
			n, _ := strconv.Atoi(ix)
			arr, ok := cur.([]any)
			if !ok || n >= len(arr) {
				return nil, true
			}
			cur = arr[n]
		}
	}
	return cur, true
}

// taskDefinitionFields are RegisterTaskDefinition's request members.
var taskDefinitionFields = []string{"family", "taskRoleArn", "executionRoleArn", "networkMode", "containerDefinitions", "volumes",
	"placementConstraints", "requiresCompatibilities", "cpu", "memory", "tags", "pidMode", "ipcMode", "proxyConfiguration",
	"inferenceAccelerators", "ephemeralStorage", "runtimePlatform", "enableFaultInjection"}

var familyRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)

func (c *awsCmd) registerTaskDefinition() int {
	known := []string{"--cli-input-json", "--family", "--container-definitions", "--network-mode", "--requires-compatibilities", "--cpu", "--memory", "--execution-role-arn", "--task-role-arn"}
	if rc := c.check(known); rc != 0 {
		return rc
	}
	in := map[string]any{}
	if raw := c.one("--cli-input-json"); raw != "" {
		if strings.HasPrefix(raw, "file://") {
			b, err := os.ReadFile(strings.TrimPrefix(raw, "file://"))
			if err != nil {
				fmt.Fprintf(os.Stderr, "\nError parsing parameter 'cli-input-json': Unable to load paramfile %s: [Errno 2] No such file or directory: '%s'\n", raw, strings.TrimPrefix(raw, "file://"))
				return 252
			}
			raw = string(b)
		}
		if err := json.Unmarshal([]byte(raw), &in); err != nil {
			fmt.Fprintf(os.Stderr, "\nError parsing parameter 'cli-input-json': Invalid JSON received.\nJSON received: %s\n", raw)
			return 252
		}
	}
	if f := c.one("--family"); f != "" {
		in["family"] = f
	}
	if cd := c.one("--container-definitions"); cd != "" {
		var defs []any
		if err := json.Unmarshal([]byte(cd), &defs); err != nil {
			fmt.Fprintf(os.Stderr, "\nError parsing parameter '--container-definitions': Invalid JSON: %v\nJSON received: %s\n", err, cd)
			return 252
		}
		in["containerDefinitions"] = defs
	}
	var unknown []string
	for k := range in {
		if !contains(taskDefinitionFields, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return paramError(fmt.Sprintf("Unknown parameter in input: %q, must be one of: %s", unknown[0], strings.Join(taskDefinitionFields, ", ")))
	}
	family, _ := in["family"].(string)
	if family == "" {
		return paramError(`Missing required parameter in input: "family"`)
	}
	if !familyRE.MatchString(family) {
		return serviceError("ClientException", "RegisterTaskDefinition", "Family contains invalid characters. Up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed.")
	}
	defs, _ := in["containerDefinitions"].([]any)
	if len(defs) == 0 {
		return paramError(`Missing required parameter in input: "containerDefinitions"`)
	}
	for i, d := range defs {
		m, ok := d.(map[string]any)
		if !ok {
			return paramError(fmt.Sprintf("Invalid type for parameter containerDefinitions[%d], value: %v, type: %T, valid types: <class 'dict'>", i, d, d))
		}
		name, _ := m["name"].(string)
		image, _ := m["image"].(string)
		if name == "" || image == "" {
			return serviceError("ClientException", "RegisterTaskDefinition", "Container.name and Container.image should not be null or empty.")
		}
		if strings.ContainsAny(image, " \t\n{}") {
			return serviceError("ClientException", "RegisterTaskDefinition", fmt.Sprintf("Container.image contains invalid characters: %q", image))
		}
	}
	rev := len(state.TaskDefinitions[family]) + 1
	td := map[string]any{}
	for k, v := range in {
		td[k] = v
	}
	td["taskDefinitionArn"] = fmt.Sprintf("arn:aws:ecs:%s:%s:task-definition/%s:%d", state.Region, state.Account, family, rev)
	td["revision"] = rev
	td["status"] = "ACTIVE"
	td["compatibilities"] = []string{"EC2", "FARGATE"}
	td["registeredAt"] = time.Now().UTC().Format("2006-01-02T15:04:05.000000-07:00")
	state.TaskDefinitions[family] = append(state.TaskDefinitions[family], td)
	return c.print(map[string]any{"taskDefinition": td})
}

// resolveTaskDefinition finds family, family:revision or a full ARN.
func resolveTaskDefinition(ref string) (string, bool) {
	ref = strings.TrimPrefix(ref, fmt.Sprintf("arn:aws:ecs:%s:%s:task-definition/", state.Region, state.Account))
	family, rev, hasRev := strings.Cut(ref, ":")
	revs := state.TaskDefinitions[family]
	if len(revs) == 0 {
		return "", false
	}
	n := len(revs)
	if hasRev {
		var err error
		n, err = strconv.Atoi(rev)
		if err != nil || n < 1 || n > len(revs) {
			return "", false
		}
	}
	return revs[n-1]["taskDefinitionArn"].(string), true
}

func (c *awsCmd) serviceKey(op string) (string, *fakecli.ECSService, int) {
	cluster := c.one("--cluster")
	if cluster == "" {
		cluster = "default"
	}
	name := c.one("--service")
	svc := state.Services[cluster+"/"+name]
	if svc == nil {
		if _, ok := clusterExists(cluster); !ok {
			return "", nil, serviceError("ClusterNotFoundException", op, "Cluster not found.")
		}
		return "", nil, serviceError("ServiceNotFoundException", op, "Service not found.")
	}
	return cluster + "/" + name, svc, 0
}

func clusterExists(cluster string) (string, bool) {
	for k := range state.Services {
		if strings.HasPrefix(k, cluster+"/") {
			return k, true
		}
	}
	return "", false
}

func (c *awsCmd) serviceJSON(key string, s *fakecli.ECSService) map[string]any {
	cluster, name, _ := strings.Cut(key, "/")
	deployments := []any{map[string]any{"status": "PRIMARY", "taskDefinition": s.TaskDefinition, "desiredCount": s.DesiredCount,
		"runningCount": s.RunningCount, "rolloutState": "COMPLETED"}}
	if s.Deploying {
		deployments[0].(map[string]any)["rolloutState"] = "IN_PROGRESS"
		deployments = append(deployments, map[string]any{"status": "ACTIVE", "taskDefinition": s.Previous,
			"desiredCount": s.DesiredCount, "runningCount": s.DesiredCount, "rolloutState": "COMPLETED"})
	}
	return map[string]any{
		"serviceArn":     fmt.Sprintf("arn:aws:ecs:%s:%s:service/%s/%s", state.Region, state.Account, cluster, name),
		"serviceName":    name,
		"clusterArn":     fmt.Sprintf("arn:aws:ecs:%s:%s:cluster/%s", state.Region, state.Account, cluster),
		"status":         "ACTIVE",
		"desiredCount":   s.DesiredCount,
		"runningCount":   s.RunningCount,
		"taskDefinition": s.TaskDefinition,
		"deployments":    deployments,
	}
}

func (c *awsCmd) updateService() int {
	known := []string{"--cluster", "--task-definition", "--desired-count", "--force-new-deployment", "--no-force-new-deployment", "--deployment-configuration"}
	if rc := c.check(known, "--service"); rc != 0 {
		return rc
	}
	key, svc, rc := c.serviceKey("UpdateService")
	if rc != 0 {
		return rc
	}
	changed := false
	if v := c.one("--desired-count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			fmt.Fprintf(os.Stderr, "\nError parsing parameter '--desired-count': invalid literal for int() with base 10: '%s'\n", v)
			return 252
		}
		if n < 0 {
			return paramError(fmt.Sprintf("Invalid value for parameter desiredCount, value: %d, valid min value: 0", n))
		}
		svc.DesiredCount = n
		svc.RunningCount = n
	}
	if td := c.one("--task-definition"); td != "" {
		arn, ok := resolveTaskDefinition(td)
		if !ok {
			return serviceError("ClientException", "UpdateService", "TaskDefinition not found.")
		}
		if arn != svc.TaskDefinition {
			svc.Previous, svc.TaskDefinition = svc.TaskDefinition, arn
			changed = true
		}
	}
	if _, ok := c.opts["--force-new-deployment"]; ok {
		if svc.Previous == "" {
			svc.Previous = svc.TaskDefinition
		}
		changed = true
	}
	if changed {
		svc.Deploying, svc.Polls = true, 0
		svc.RunningCount = 0
	}
	return c.print(map[string]any{"service": c.serviceJSON(key, svc)})
}

func (c *awsCmd) describeServices() int {
	if rc := c.check([]string{"--cluster", "--include"}, "--services"); rc != 0 {
		return rc
	}
	cluster := c.one("--cluster")
	if cluster == "" {
		cluster = "default"
	}
	services, failures := []any{}, []any{}
	for _, name := range c.opts["--services"] {
		if s := state.Services[cluster+"/"+name]; s != nil {
			services = append(services, c.serviceJSON(cluster+"/"+name, s))
		} else {
			failures = append(failures, map[string]any{"arn": fmt.Sprintf("arn:aws:ecs:%s:%s:service/%s/%s", state.Region, state.Account, cluster, name), "reason": "MISSING"})
		}
	}
	return c.print(map[string]any{"services": services, "failures": failures})
}

// waitServicesStable is the services-stable waiter: DescribeServices every
// delay, up to 40 attempts.
func (c *awsCmd) waitServicesStable() int {
	if rc := c.check([]string{"--cluster", "--include"}, "--services"); rc != 0 {
		return rc
	}
	if len(c.opts["--services"]) > 10 {
		return serviceError("InvalidParameterException", "DescribeServices", "services can have at most 10 items.")
	}
	cluster := c.one("--cluster")
	if cluster == "" {
		cluster = "default"
	}
	delay, err := time.ParseDuration(state.WaitDelay)
	if err != nil || state.WaitDelay == "" {
		delay = 10 * time.Millisecond
	}
	for attempt := 1; attempt <= 40; attempt++ {
		stable := true
		for _, name := range c.opts["--services"] {
			s := state.Services[cluster+"/"+name]
			if s == nil {
				fmt.Fprintln(os.Stderr, "\nWaiter ServicesStable failed: Waiter encountered a terminal failure state: For expression \"failures[].reason\" we matched expected path: \"MISSING\" at least once")
				return 255
			}
			if s.Deploying {
				s.Polls++
				switch {
				case s.Scenario == "crashloop":
					s.RunningCount = 0
				case s.Scenario == "rollback" && s.Polls > s.StableAfter:
					// The deployment circuit breaker rolled back: stable,
					// but on the previous task definition.
					s.TaskDefinition, s.Deploying, s.RunningCount = s.Previous, false, s.DesiredCount
				case s.Scenario == "" && s.Polls > s.StableAfter:
					s.Deploying, s.RunningCount = false, s.DesiredCount
				}
			}
			if s.Deploying || s.RunningCount != s.DesiredCount {
				stable = false
			}
		}
		if stable {
			return 0
		}
		time.Sleep(delay)
	}
	fmt.Fprintln(os.Stderr, "\nWaiter ServicesStable failed: Max attempts exceeded")
	return 255
}

var (
	listenerARN    = regexp.MustCompile(`^arn:aws:elasticloadbalancing:[a-z0-9-]+:\d{12}:listener/app/[A-Za-z0-9-]+/[0-9a-f]+/[0-9a-f]+$`)
	ruleARN        = regexp.MustCompile(`^arn:aws:elasticloadbalancing:[a-z0-9-]+:\d{12}:listener-rule/app/[A-Za-z0-9-]+/[0-9a-f]+/[0-9a-f]+/[0-9a-f]+$`)
	targetGroupARN = regexp.MustCompile(`^arn:aws:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup/[A-Za-z0-9-]{1,32}/[0-9a-f]+$`)
	actionTypes    = []string{"forward", "authenticate-oidc", "authenticate-cognito", "redirect", "fixed-response"}
	actionFields   = []string{"Type", "TargetGroupArn", "AuthenticateOidcConfig", "AuthenticateCognitoConfig", "Order", "RedirectConfig", "FixedResponseConfig", "ForwardConfig"}
)

// modifyForward is ModifyListener and ModifyRule: the actions are
// validated as the CLI and the service do, then stored.
func (c *awsCmd) modifyForward(op, arnOpt, actionsOpt string, table map[string][]any, outKey, arnKey, actionsKey, notFound, notFoundMsg string) int {
	known := []string{actionsOpt}
	if op == "ModifyListener" {
		known = append(known, "--port", "--protocol", "--ssl-policy", "--certificates")
	} else {
		known = append(known, "--conditions")
	}
	if rc := c.check(known, arnOpt); rc != 0 {
		return rc
	}
	arn := c.one(arnOpt)
	re := listenerARN
	if op == "ModifyRule" {
		re = ruleARN
	}
	if !re.MatchString(arn) {
		return serviceError("ValidationError", op, fmt.Sprintf("'%s' is not a valid %s ARN", arn, map[string]string{"ModifyListener": "listener", "ModifyRule": "listener rule"}[op]))
	}
	if _, ok := table[arn]; !ok {
		return serviceError(notFound, op, notFoundMsg)
	}
	raw := c.one(actionsOpt)
	if raw == "" {
		return c.print(map[string]any{outKey: []any{map[string]any{arnKey: arn, actionsKey: table[arn]}}})
	}
	var actions []map[string]any
	if err := json.Unmarshal([]byte(raw), &actions); err != nil {
		// The CLI also takes shorthand syntax; the examples use JSON, and
		// the stand-in checks JSON only.
		fmt.Fprintf(os.Stderr, "\nError parsing parameter '%s': Expected: '=', received: '%s' for input:\n%s\n", actionsOpt, firstRune(raw), raw)
		return 252
	}
	if len(actions) == 0 {
		return serviceError("ValidationError", op, "At least one action must be specified")
	}
	for i, a := range actions {
		for k := range a {
			if !contains(actionFields, k) {
				return paramError(fmt.Sprintf("Unknown parameter in %s[%d]: %q, must be one of: %s", strings.TrimPrefix(actionsOpt, "--"), i, k, strings.Join(actionFields, ", ")))
			}
		}
		typ, _ := a["Type"].(string)
		if typ == "" {
			return paramError(fmt.Sprintf(`Missing required parameter in %s[%d]: "Type"`, strings.TrimPrefix(actionsOpt, "--"), i))
		}
		if !contains(actionTypes, typ) {
			return serviceError("ValidationError", op, fmt.Sprintf("1 validation error detected: Value '%s' at 'actions.%d.member.type' failed to satisfy constraint: Member must satisfy enum value set: [%s]", typ, i+1, strings.Join(actionTypes, ", ")))
		}
		if typ != "forward" {
			continue
		}
		fc, _ := a["ForwardConfig"].(map[string]any)
		if fc == nil {
			if tg, _ := a["TargetGroupArn"].(string); tg == "" {
				return serviceError("ValidationError", op, "A target group ARN must be specified")
			}
			continue
		}
		tgs, _ := fc["TargetGroups"].([]any)
		if len(tgs) == 0 {
			return serviceError("ValidationError", op, "A target group must be specified in the forward config")
		}
		if len(tgs) > 5 {
			return serviceError("TooManyTargetGroups", op, "You can specify up to 5 target groups in a forward action")
		}
		total := 0
		for j, t := range tgs {
			tg, _ := t.(map[string]any)
			arn, _ := tg["TargetGroupArn"].(string)
			if !targetGroupARN.MatchString(arn) {
				return serviceError("ValidationError", op, fmt.Sprintf("'%s' is not a valid target group ARN", arn))
			}
			w, ok := tg["Weight"].(float64)
			if !ok && tg["Weight"] != nil {
				return paramError(fmt.Sprintf("Invalid type for parameter %s[%d].ForwardConfig.TargetGroups[%d].Weight, value: %v, type: %T, valid types: <class 'int'>", strings.TrimPrefix(actionsOpt, "--"), i, j, tg["Weight"], tg["Weight"]))
			}
			if w != float64(int(w)) || w < 0 || w > 999 {
				return serviceError("ValidationError", op, fmt.Sprintf("Target group weight '%v' must be an integer between 0 and 999", w))
			}
			total += int(w)
		}
		if total == 0 {
			return serviceError("ValidationError", op, "At least one target group in a forward action must have a weight greater than 0")
		}
	}
	stored := make([]any, len(actions))
	for i, a := range actions {
		stored[i] = a
	}
	table[arn] = stored
	return c.print(map[string]any{outKey: []any{map[string]any{arnKey: arn, actionsKey: stored}}})
}

func firstRune(s string) string {
	if s == "" {
		return ""
	}
	return s[:1]
}

// --- kubectl ---

type kubeCmd struct {
	namespace string
	flags     map[string]string
	pos       []string
}

// kubectlError prints kubectl's error line and exits 1.
func kubectlError(format string, a ...any) int {
	fmt.Fprintf(os.Stderr, "error: "+format+"\n", a...)
	return 1
}

// kubeFlags are the flags each verb accepts (besides the global ones).
var kubeFlags = map[string][]string{
	"set image":      {"all", "dry-run", "local", "output", "o", "record", "selector", "l", "filename", "f"},
	"rollout status": {"timeout", "watch", "w", "revision", "filename", "f", "selector", "l"},
	"annotate":       {"overwrite", "all", "dry-run", "output", "o", "resource-version", "selector", "l", "filename", "f", "list"},
	"scale":          {"replicas", "current-replicas", "resource-version", "timeout", "dry-run", "output", "o", "selector", "l", "all", "filename", "f"},
}

var kubeGlobal = []string{"namespace", "n", "context", "kubeconfig", "cluster", "user", "request-timeout", "server", "token", "v"}

func runKubectl(args []string) int {
	c := kubeCmd{namespace: "default", flags: map[string]string{}}
	var raw []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			raw = append(raw, a)
			continue
		}
		name := strings.TrimLeft(a, "-")
		val, hasVal := "", false
		if n, v, ok := strings.Cut(name, "="); ok {
			name, val, hasVal = n, v, true
		}
		boolFlag := contains([]string{"overwrite", "all", "local", "record", "list", "watch", "w"}, name)
		if !hasVal && !boolFlag {
			if i+1 >= len(args) {
				return kubectlError("flag needs an argument: --%s", name)
			}
			i++
			val = args[i]
		}
		if !hasVal && boolFlag {
			val = "true"
		}
		if name == "n" || name == "namespace" {
			c.namespace = val
			continue
		}
		c.flags[name] = val
	}
	verb := ""
	switch {
	case len(raw) >= 2 && raw[0] == "set" && raw[1] == "image":
		verb, c.pos = "set image", raw[2:]
	case len(raw) >= 2 && raw[0] == "rollout" && raw[1] == "status":
		verb, c.pos = "rollout status", raw[2:]
	case len(raw) >= 1 && raw[0] == "annotate":
		verb, c.pos = "annotate", raw[1:]
	case len(raw) >= 1 && raw[0] == "scale":
		verb, c.pos = "scale", raw[1:]
	default:
		fmt.Fprintf(os.Stderr, "error: unknown command %q for \"kubectl\"\nRun 'kubectl --help' for usage.\n", strings.Join(raw, " "))
		return 1
	}
	for name := range c.flags {
		if !contains(kubeFlags[verb], name) && !contains(kubeGlobal, name) {
			fmt.Fprintf(os.Stderr, "error: unknown flag: --%s\nSee 'kubectl %s --help' for usage.\n", name, verb)
			return 1
		}
	}
	switch verb {
	case "set image":
		return c.setImage()
	case "rollout status":
		return c.rolloutStatus()
	case "annotate":
		return c.annotate()
	case "scale":
		return c.scale()
	}
	return 1
}

// resource splits TYPE/NAME (or TYPE NAME) and returns the rest.
func (c *kubeCmd) resource(kinds ...string) (kind, name string, rest []string, rc int) {
	if len(c.pos) == 0 {
		return "", "", nil, kubectlError("you must specify the type of resource to get. Use \"kubectl api-resources\" for a complete list of supported resources.")
	}
	if t, n, ok := strings.Cut(c.pos[0], "/"); ok {
		kind, name, rest = t, n, c.pos[1:]
	} else if len(c.pos) >= 2 {
		kind, name, rest = c.pos[0], c.pos[1], c.pos[2:]
	} else {
		return "", "", nil, kubectlError("resource(s) were provided, but no name was specified")
	}
	aliases := map[string]string{"deployment": "deployment", "deployments": "deployment", "deploy": "deployment",
		"deployment.apps": "deployment", "ingress": "ingress", "ingresses": "ingress", "ing": "ingress", "ingress.networking.k8s.io": "ingress"}
	kind, ok := aliases[strings.ToLower(kind)]
	if !ok || !contains(kinds, kind) {
		return "", "", nil, kubectlError("the server doesn't have a resource type %q", c.pos[0])
	}
	return kind, name, rest, 0
}

func (c *kubeCmd) deployment(name string) (*fakecli.K8sDeployment, int) {
	d := state.Deployments[c.namespace+"/"+name]
	if d == nil {
		fmt.Fprintf(os.Stderr, "Error from server (NotFound): deployments.apps %q not found\n", name)
		return nil, 1
	}
	return d, 0
}

var imageRE = regexp.MustCompile(`^[a-z0-9]+([._/:-][a-z0-9]+)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$`)

func (c *kubeCmd) setImage() int {
	_, name, rest, rc := c.resource("deployment")
	if rc != 0 {
		return rc
	}
	if len(rest) == 0 {
		return kubectlError("at least one image update is required")
	}
	d, rc := c.deployment(name)
	if rc != 0 {
		return rc
	}
	changed := false
	for _, kv := range rest {
		container, image, ok := strings.Cut(kv, "=")
		if !ok || container == "" || image == "" {
			return kubectlError("all resources must be specified before image changes: %s", kv)
		}
		if !imageRE.MatchString(image) {
			fmt.Fprintf(os.Stderr, "The Deployment %q is invalid: spec.template.spec.containers[0].image: Invalid value: %q: must not have leading or trailing whitespace, and must be a valid image reference\n", name, image)
			return 1
		}
		if container == "*" {
			for k := range d.Containers {
				changed = changed || d.Containers[k] != image
				d.Containers[k] = image
			}
			continue
		}
		if _, ok := d.Containers[container]; !ok {
			return kubectlError("unable to find container named %q", container)
		}
		changed = changed || d.Containers[container] != image
		d.Containers[container] = image
	}
	if changed {
		d.Rolling, d.Generation = true, d.Generation+1
	}
	fmt.Printf("deployment.apps/%s image updated\n", name)
	return 0
}

func (c *kubeCmd) rolloutStatus() int {
	_, name, rest, rc := c.resource("deployment")
	if rc != 0 {
		return rc
	}
	if len(rest) > 0 {
		return kubectlError("unexpected arguments: %v", rest)
	}
	timeout := time.Duration(0)
	if v, ok := c.flags["timeout"]; ok {
		var err error
		timeout, err = time.ParseDuration(v)
		if err != nil {
			fmt.Fprintf(os.Stderr, "error: invalid argument %q for \"--timeout\" flag: %v\nSee 'kubectl rollout status --help' for usage.\n", v, err)
			return 1
		}
	}
	d, rc := c.deployment(name)
	if rc != 0 {
		return rc
	}
	deadline := time.Time{}
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	polls := 0
	for {
		if !d.Rolling {
			fmt.Printf("deployment %q successfully rolled out\n", name)
			return 0
		}
		polls++
		switch {
		case d.Scenario == "deadline" && polls > d.ReadyAfter:
			return kubectlError("deployment %q exceeded its progress deadline", name)
		case d.Scenario == "" && polls > d.ReadyAfter:
			d.Rolling = false
			fmt.Printf("Waiting for deployment %q rollout to finish: %d of %d updated replicas are available...\n", name, d.Replicas-1, d.Replicas)
			continue
		}
		fmt.Printf("Waiting for deployment %q rollout to finish: 0 of %d updated replicas are available...\n", name, d.Replicas)
		if w := c.flags["watch"]; w == "false" {
			return 0
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			return kubectlError("timed out waiting for the condition")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var annotationKeyRE = regexp.MustCompile(`^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`)

func (c *kubeCmd) annotate() int {
	_, name, rest, rc := c.resource("ingress")
	if rc != 0 {
		return rc
	}
	if len(rest) == 0 {
		return kubectlError("at least one annotation update is required")
	}
	ann := state.Ingresses[c.namespace+"/"+name]
	if ann == nil {
		fmt.Fprintf(os.Stderr, "Error from server (NotFound): ingresses.networking.k8s.io %q not found\n", name)
		return 1
	}
	updates := map[string]string{}
	for _, kv := range rest {
		if k, ok := strings.CutSuffix(kv, "-"); ok && !strings.Contains(kv, "=") {
			updates[k] = "\x00remove"
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return kubectlError("invalid annotation format: %s", kv)
		}
		if !annotationKeyRE.MatchString(k) {
			return kubectlError("invalid annotation key %q: a qualified name must consist of alphanumeric characters, '-', '_' or '.'", k)
		}
		updates[k] = v
	}
	if c.flags["overwrite"] != "true" {
		var found []string
		for k, v := range updates {
			if old, ok := ann[k]; ok && v != "\x00remove" {
				found = append(found, fmt.Sprintf("'%s' already has a value (%s)", k, old))
			}
		}
		if len(found) > 0 {
			sort.Strings(found)
			return kubectlError("--overwrite is false but found the following declared annotation(s): %s", strings.Join(found, "; "))
		}
	}
	for k, v := range updates {
		if v == "\x00remove" {
			delete(ann, k)
		} else {
			ann[k] = v
		}
	}
	fmt.Printf("ingress.networking.k8s.io/%s annotated\n", name)
	return 0
}

func (c *kubeCmd) scale() int {
	_, name, rest, rc := c.resource("deployment")
	if rc != 0 {
		return rc
	}
	if len(rest) > 0 {
		return kubectlError("unexpected arguments: %v", rest)
	}
	v, ok := c.flags["replicas"]
	if !ok {
		return kubectlError("required flag(s) \"replicas\" not set")
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		fmt.Fprintf(os.Stderr, "error: invalid argument %q for \"--replicas\" flag: strconv.ParseInt: parsing %q: invalid syntax\n", v, v)
		return 1
	}
	d, rc := c.deployment(name)
	if rc != 0 {
		return rc
	}
	d.Replicas = n
	fmt.Printf("deployment.apps/%s scaled\n", name)
	return 0
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
