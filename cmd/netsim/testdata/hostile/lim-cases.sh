#!/bin/bash
# Regenerates the lim-* hostile-input cases (limits, refused targets, CLI usage errors):
#   bash cmd/netsim/testdata/hostile/lim-cases.sh
set -e
H=$(cd "$(dirname "$0")" && pwd)
base() { cat <<'EOF'
# A trimmed copy of scenarios/flannel-vxlan.yaml.
name: lim
vpc:
  name: vpc-ack
  cidr: 192.168.0.0/16
  mtu: 1500
  vswitches:
    - {name: vsw-h, zone: cn-hangzhou-h, cidr: 192.168.0.0/24}
    - {name: vsw-i, zone: cn-hangzhou-i, cidr: 192.168.1.0/24}
nodes:
  - {name: node-1, vswitch: vsw-h, ip: 192.168.0.10}
  - {name: node-2, vswitch: vsw-i, ip: 192.168.1.11}
cluster:
  podCIDR: 172.20.0.0/16
  nodeCIDRMask: 24
  serviceCIDR: 172.21.0.0/20
  cni:
    mode: flannel
    flannel: {backend: vxlan, vni: 1, port: 8472}
pods:
  - {name: web-1, node: node-1}
  - {name: api-1, node: node-2}
EOF
}
flow() { # to, extra
cat <<EOF
flows:
  - name: f
    from: pod/web-1
    to: $1
    expect: delivered
EOF
}
mk() { # name what exit first [extra case lines]
  d=$H/lim-$1; mkdir -p $d
  { echo "what: \"$2\""; echo "args: $3"; echo "exit: $4"; echo "first: '$5'"; [ -n "$6" ] && printf '%s\n' "$6"; true; } > $d/case.yaml
  echo "maxLines: 2" >> $d/case.yaml
  echo $d
}
dep() { cat <<EOF
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${2:-web}
spec:
  replicas: $1
  selector:
    matchLabels: {app: ${2:-web}}
  template:
    metadata:
      labels: {app: ${2:-web}}
    spec:
      containers:
        - {name: c, image: nginx}
EOF
}
RUN='[run, scenario.yaml]'
VAL='[validate, scenario.yaml]'

d=$(mk replicas-int32max "a Deployment of 2147483647 replicas is refused at spec.replicas before any pod is made" "$RUN" 2 '^(.*/)?web\.yaml:6:13: spec\.replicas: Deployment default/web: 2,147,483,647 is out of range: netsim makes at most 20,000 pods' "seconds: 5
rssMiB: 300")
{ base; echo "manifests: [web.yaml]"; flow pod/api-1; } > $d/scenario.yaml; dep 2147483647 > $d/web.yaml

d=$(mk replicas-100000 "100,000 replicas: one error at spec.replicas, not one line per pod" "$RUN" 2 '^(.*/)?web\.yaml:6:13: spec\.replicas: Deployment default/web: 100,000 is out of range' "seconds: 5
rssMiB: 300")
{ base; echo "manifests: [web.yaml]"; flow pod/api-1; } > $d/scenario.yaml; dep 100000 > $d/web.yaml

d=$(mk replicas-do-not-fit "10,000 replicas on two /24 nodes: one error with the count of pods that do not fit" "$RUN" 2 '^(.*/)?web\.yaml:6:13: spec\.replicas: Deployment default/web: 9,496 of its 10,000 pods do not fit on nodes node-1, node-2: flannel.s node pod CIDR /24 holds 2\^\(32−24\) − 3 = 253 pod addresses' "seconds: 10")
{ base; echo "manifests: [web.yaml]"; flow pod/api-1; } > $d/scenario.yaml; dep 10000 > $d/web.yaml

d=$(mk replicas-total "Deployments of 100 and 19,950 replicas: the second crosses the 20,000-pod limit" "$RUN" 2 '^(.*/)?web\.yaml:21:13: spec\.replicas: Deployment default/b: 19,950 replicas bring the manifests to 20,050 pods, more than netsim.s limit of 20,000' "seconds: 10")
{ base; echo "manifests: [web.yaml]"; flow pod/api-1; } > $d/scenario.yaml; { dep 100 a; echo ---; dep 19950 b; } > $d/web.yaml

d=$(mk pods-per-node "14 pods on a node whose /28 pod CIDR holds 13: one error at the first pod over" "$RUN" 2 '^scenario\.yaml:35:24: pods\[14\]\.node: the pod does not fit: node "node-1" already has 13 pods: flannel.s node pod CIDR /28 holds 2\^\(32−28\) − 3 = 13 pod addresses')
{ base | sed 's/nodeCIDRMask: 24/nodeCIDRMask: 28/'; for i in $(seq 1 14); do echo "  - {name: p-$i, node: node-1}"; done; flow pod/api-1; } > $d/scenario.yaml

d=$(mk nodes "1,001 flannel vxlan nodes: more than netsim's 1,000-node limit for vxlan, one error at the 1,001st" "$VAL" 2 '^scenario\.yaml:\d+:5: nodes\[1000\]: 1,001 nodes are more than netsim.s limit of 1,000 with flannel.s vxlan backend')
{ base | sed 's|podCIDR: 172.20.0.0/16|podCIDR: 10.0.0.0/8|; s|cidr: 192.168.1.0/24|cidr: 192.168.4.0/22|'; } | sed '/^pods:/,$d' > $d/scenario.yaml
sed -i '/^nodes:/a\  # 999 more nodes follow' $d/scenario.yaml
python3 - $d/scenario.yaml <<'EOF'
import sys
p=sys.argv[1]; s=open(p).read()
extra=''.join('  - {name: n-%d, vswitch: vsw-i}\n'%i for i in range(3,1002))
s=s.replace('  - {name: node-2, vswitch: vsw-i, ip: 192.168.1.11}\n','  - {name: node-2, vswitch: vsw-i, ip: 192.168.4.11}\n'+extra)
s+='pods:\n  - {name: web-1, node: node-1}\n  - {name: api-1, node: node-2}\n'
open(p,'w').write(s)
EOF
flow pod/api-1 >> $d/scenario.yaml

d=$(mk flows "1,001 flows: more than netsim's limit of 1,000, one error at the 1,001st" "$VAL" 2 '^scenario\.yaml:\d+:5: flows\[1000\]: 1,001 flows and actions are more than netsim.s limit of 1,000')
{ base; echo "flows:"; for i in $(seq 1 1001); do echo "  - {name: f-$i, from: pod/web-1, to: pod/api-1, expect: delivered}"; done; } > $d/scenario.yaml

d=$(mk count-huge "count 99999999999 is out of range" "$VAL" 2 '^scenario\.yaml:27:12: flows\[0\]\.count: 99999999999 is out of range: expected 1 to 100000')
{ base; flow pod/api-1 | sed 's/    expect: delivered/    count: 99999999999\n    expect: delivered/'; } > $d/scenario.yaml

d=$(mk packets "100,000 UDP exchanges of 60,000 bytes: more packets than netsim's limit, at the count that crosses it" "$VAL" 2 '^scenario\.yaml:30:12: flows\[0\]\.count: 100,000 exchanges of about 84 packets each bring the flows to about 8,400,000 packets, more than netsim.s limit of 1,000,000' "seconds: 5")
{ base | sed 's/  - {name: api-1, node: node-2}/  - {name: api-1, node: node-2, ports: [{port: 7, protocol: UDP}]}/'; flow pod/api-1 | sed 's/    expect: delivered/    protocol: udp\n    port: 7\n    size: 60000\n    count: 100000\n    expect: delivered/'; } > $d/scenario.yaml

for t in "broadcast|255.255.255.255|is the limited broadcast address" "multicast|224.0.0.1|is a multicast address [(]224[.]0[.]0[.]0/4[)]" "zero|0.0.0.0|is in 0\\.0\\.0\\.0/8" "vswitch-broadcast|192.168.1.255|is the broadcast address of vSwitch vsw-i [(]192[.]168[.]1[.]0/24[)]" "podcidr-broadcast|172.20.1.255|is the broadcast address of the node pod CIDR 172\\.20\\.1\\.0/24" "loopback|127.0.0.1|is a loopback address" "class-e|250.1.2.3|is in 240\\.0\\.0\\.0/4, reserved"; do
  IFS='|' read n a m <<<"$t"
  d=$(mk target-$n "a flow to $a is refused: netsim models unicast flows" "$RUN" 2 "^scenario\\.yaml:26:9: flows\\[0\\]\\.to: ${a//./\\.} $m")
  { base; flow "$a"; } > $d/scenario.yaml
done

d=$(mk flannel-mtu "a flannel vxlan MTU of 1480 on a 1500 NIC: at most 1450" "$RUN" 2 '^scenario\.yaml:19:56: cluster\.cni\.flannel\.mtu: 1480 is more than the NIC carries: .* at most vpc\.mtu 1500 − 50 = 1450')
{ base | sed 's/flannel: {backend: vxlan, vni: 1, port: 8472}/flannel: {backend: vxlan, vni: 1, port: 8472, mtu: 1480}/'; flow pod/api-1; } > $d/scenario.yaml

cli() { d=$(mk $1 "$2" "$3" 2 "$4"); { base; flow pod/api-1; } > $d/scenario.yaml; }
cli width-5 "--width 5 is below the minimum of 40 columns" '[run, scenario.yaml, --width, "5"]' '^netsim run: --width 5: expected 0 \(no wrapping\) or at least 40 columns'
cli width-negative "--width -1 is a usage error" '[run, scenario.yaml, --width=-1]' '^netsim run: --width -1: expected 0 \(no wrapping\) or at least 40 columns'
cli pcap-twice "--pcap given twice" '[run, scenario.yaml, --pcap, "{tmp}/a.pcapng", --pcap, "{tmp}/b.pcapng"]' '^netsim run: --pcap is given twice \(--pcap .*a\.pcapng, then --pcap .*b\.pcapng\): give it once'
cli output-twice "-o json -o text" '[run, scenario.yaml, -o, json, -o, text]' '^netsim run: --output is given twice \(-o json, then -o text\): give it once'
cli pcap-to-validate "--pcap is a flag of run, not of validate" '[validate, scenario.yaml, --pcap, "{tmp}/y.pcapng"]' '^netsim validate: --pcap is a flag of netsim run, not of netsim validate'
cli unknown-command "netsim rn: did you mean run" '[rn, scenario.yaml]' '^netsim: unknown command "rn" \(did you mean "run"\?\)'
cli unknown-flag "--pcapp: did you mean --pcap" '[run, scenario.yaml, --pcapp, "{tmp}/x.pcapng"]' '^netsim run: unknown flag: --pcapp \(did you mean "--pcap"\?\)'

d=$(mk service-endpoints "51 Services over 500 pods on 2 nodes: kube-proxy's rules past the 50,000-entry limit, one error at the Service that crosses it" "$RUN" 2 '^(.*/)?app\.yaml:\d+:\d+: spec\.selector: Service default/s-49: its 500 endpoints \(pods × ports\) and 1 port on 2 nodes bring kube-proxy.s rules to 50,100 entries' "seconds: 10")
{ base; echo "manifests: [app.yaml]"; flow pod/api-1; } > $d/scenario.yaml
{ dep 500; for i in $(seq 0 50); do echo ---; echo "apiVersion: v1"; echo "kind: Service"; echo "metadata: {name: s-$i}"; echo "spec: {selector: {app: web}, ports: [{port: 80}]}"; done; } > $d/app.yaml

d=$(mk networkpolicies "1,300 NetworkPolicies over 400 pods on Terway: past the 1,000,000 policy-entry limit, one error at the policy that crosses it" "$RUN" 2 '^(.*/)?policies\.yaml:\d+:\d+: spec\.podSelector: NetworkPolicy default/np-1243: the pods it selects and its rules. peers \(804\) bring the NetworkPolicies to 1,000,\d+ policy entries' "seconds: 15")
cat > $d/scenario.yaml <<'EOF'
# Terway shared ENI (veth + felix), trimmed from scenarios/networkpolicy.yaml.
name: lim
vpc:
  name: vpc-ack
  cidr: 192.168.0.0/16
  vswitches:
    - {name: vsw-h, zone: cn-hangzhou-h, cidr: 192.168.0.0/22}
nodes:
  - {name: node-1, vswitch: vsw-h, instanceType: ecs.g7.4xlarge}
  - {name: node-2, vswitch: vsw-h, instanceType: ecs.g7.4xlarge}
cluster:
  serviceCIDR: 172.21.0.0/20
  cni:
    mode: terway
    terway: {eniMode: shared, eniipVirtualType: veth, podVSwitches: {cn-hangzhou-h: [vsw-h]}}
pods:
  - {name: web-1, node: node-1, labels: {app: web}}
  - {name: api-1, node: node-2, labels: {app: web}}
manifests: [policies.yaml]
flows:
  - {name: f, from: pod/web-1, to: pod/api-1, expect: delivered}
EOF
{ dep 400; for i in $(seq 0 1299); do echo ---; echo "{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: np-$i}, spec: {podSelector: {matchLabels: {app: web}}, ingress: [{from: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: $((i+1))}]}]}}"; done; } > $d/policies.yaml

d=$(mk instances "5,001 ECS instances: more than netsim's limit of 5,000, one error at the 5,001st" "$VAL" 2 '^scenario\.yaml:\d+:5: instances\[5000\]: 5,001 instances are more than netsim.s limit of 5,000')
{ base | sed 's|cidr: 192.168.1.0/24}|cidr: 192.168.64.0/18}|; s|ip: 192.168.1.11|ip: 192.168.64.11|'; echo "instances:"; for i in $(seq 1 5001); do echo "  - {name: ecs-$i, vswitch: vsw-i}"; done; flow pod/api-1; } > $d/scenario.yaml
cli width-not-a-number "--width abc: a usage error that names no Go parser" '[run, scenario.yaml, --width, abc]' '^netsim run: invalid argument "abc" for "--width" flag: expected a whole number$'
cli port-not-a-number "matrix --port 80,x: a usage error that names no Go parser" '[matrix, scenario.yaml, --port, "80,x"]' '^netsim matrix: invalid argument "80,x" for "--port" flag: expected whole numbers separated by commas'

d=$(mk matrix-size "a reachability matrix of 300 pods on 13 ports: 1,170,000 probes, more than netsim's limit of 1,100,000" '[matrix, scenario.yaml, --port, "80,81,82,83,84,85,86,87,88,89,90,91,92"]' 2 '^netsim matrix: 300 pods × 300 columns × 13 ports × 1 protocol are 1,170,000 probes, more than netsim.s limit of 1,100,000' "seconds: 5")
{ base | sed '/^pods:/,$d'; echo "pods:"; for i in $(seq 1 300); do echo "  - {name: p-$i, node: node-$(( i % 2 + 1 ))}"; done; echo "flows: []"; } > $d/scenario.yaml

d=$(mk trace-all "run --trace-all on 100,000 exchanges: more than the 5,000 traced exchanges netsim allows" '[run, scenario.yaml, --trace-all]' 2 '^netsim run: --trace-all would trace 100,000 exchanges \(the most: flow f, count 100,000\), more than netsim.s limit of 5,000 traced exchanges' "seconds: 5")
{ base; flow pod/api-1 | sed 's/    expect: delivered/    count: 100000\n    expect: delivered/'; } > $d/scenario.yaml
