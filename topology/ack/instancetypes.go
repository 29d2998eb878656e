package ack

// The built-in instance types. Every figure says where it comes from; a
// figure no public source gave is listed in the type's Unverified field
// (and printed as such by `netsim show`). A scenario overrides or adds
// types with its instanceTypes: list.
//
// Sources:
//
//   - docsGeneral, docsCompute, docsMemory: Alibaba Cloud's ECS
//     documentation, "General purpose / Compute optimized / Memory
//     optimized instance families", columns "ENIs" (= EniQuantity) and
//     "Private IP addresses per ENI" (= EniPrivateIpAddressQuantity), as
//     published in github.com/AlibabaCloudDocs/ecs at commit 322eaab
//     (2021-07-19), files "intl.en-US/Instance/Instance type families/
//     General purpose instance families.md" (g7 lines 113-119, g6 lines
//     463-469), "Compute optimized instance families.md" (c7 lines
//     112-118, c6 lines 368-374) and "Memory optimized instance families/
//     Memory optimized instance families.md" (r7 lines 107-113, r6 lines
//     362-368); the Chinese pages (cn.zh-CN/实例/选择实例规格/通用型.md,
//     计算型.md, 内存型/内存型.md) carry the same figures. These pages
//     do not list EniTotalQuantity or EniTrunkSupported, so those are
//     unverified unless another source below gives them.
//   - ackDoc: ACK, "Adjust the maximum number of pods per node":
//     "ecs.g7.4xlarge supports 8 ENIs, each ENI supports 30 private IP
//     addresses" (https://www.alibabacloud.com/help/en/ack/ack-managed-and-ack-dedicated/user-guide/adjusting-the-number-of-node-pods).
//   - csiFixture: a DescribeInstanceTypes response for ecs.g7.xlarge
//     recorded in github.com/kubernetes-sigs/alibaba-cloud-csi-driver at
//     commit 8aacf90, pkg/cloud/metadata/ecs_instance_type_test.go
//     (EniQuantity 4, EniPrivateIpAddressQuantity 15, EniTotalQuantity 20,
//     EniTrunkSupported true; it carries a RequestId and the g7's
//     processor model, so it reads as a real response, but it is a test
//     fixture, not documentation).
//   - apiSample: the DescribeInstanceTypes API reference's sample
//     response for ecs.g6.large (AlibabaCloudDocs/ecs@322eaab,
//     intl.en-US/API Reference/Instances/DescribeInstanceTypes.md):
//     EniQuantity 2, EniPrivateIpAddressQuantity 6 (as the family page),
//     EniTotalQuantity 2, EniTrunkSupported false; the same page says
//     EniTotalQuantity and EniTrunkSupported were "in invitational
//     preview", so those two stay unverified.
//   - terwayDesign: Terway docs/design.md (AliyunContainerService/terway
//     at 89aadf8): "ecs.g6.xlarge can only attach 2 additional ENIs"
//     (EniQuantity 3).
//   - g8i: no public source with its ENI figures was found; the figures
//     are those of the g7 type of the same size (g8i's predecessor) and
//     all four are unverified.
const (
	docsGeneral  = "ECS docs, General purpose instance families (AlibabaCloudDocs/ecs@322eaab)"
	docsCompute  = "ECS docs, Compute optimized instance families (AlibabaCloudDocs/ecs@322eaab)"
	docsMemory   = "ECS docs, Memory optimized instance families (AlibabaCloudDocs/ecs@322eaab)"
	ackDoc       = "ACK docs, Adjust the maximum number of pods per node (ecs.g7.4xlarge: 8 ENIs × 30 IPs)"
	csiFixture   = "DescribeInstanceTypes response recorded in kubernetes-sigs/alibaba-cloud-csi-driver@8aacf90 pkg/cloud/metadata/ecs_instance_type_test.go"
	apiSample    = "DescribeInstanceTypes API reference sample response (AlibabaCloudDocs/ecs@322eaab)"
	terwayDesign = "Terway docs/design.md: ecs.g6.xlarge attaches 2 additional ENIs"
	g8iGuess     = "no public source found: figures of the g7 type of the same size"
)

// DefaultInstanceType is the type of a node or instance whose
// instanceType is not given: ecs.g7.xlarge, a common ACK worker (4 vCPU,
// 16 GiB) whose four figures are all sourced.
const DefaultInstanceType = "ecs.g7.xlarge"

// documented is a type whose ENIs and IPv4 per ENI come from the ECS
// family page src; EniTotalQuantity and EniTrunkSupported are unknown.
func documented(name string, enis, ipv4 int, src string) InstanceType {
	return InstanceType{Name: name, ENIs: enis, IPv4PerENI: ipv4, Source: src,
		Unverified: []string{FieldTotalENIs, FieldTrunkSupported}}
}

// guessed is a type none of whose figures is sourced.
func guessed(name string, enis, ipv4 int, src string) InstanceType {
	return InstanceType{Name: name, ENIs: enis, IPv4PerENI: ipv4, Source: src,
		Unverified: []string{FieldENIs, FieldIPv4PerENI, FieldTotalENIs, FieldTrunkSupported}}
}

var builtin = []InstanceType{
	// g7, general purpose (docsGeneral, lines 113-119: ENIs, IPs per ENI).
	documented("ecs.g7.large", 3, 6, docsGeneral),
	{Name: "ecs.g7.xlarge", ENIs: 4, IPv4PerENI: 15, // docsGeneral line 114; csiFixture agrees
		TotalENIs: 20, TrunkSupported: true, // csiFixture
		Source: docsGeneral + "; " + csiFixture},
	documented("ecs.g7.2xlarge", 4, 15, docsGeneral),
	documented("ecs.g7.3xlarge", 8, 15, docsGeneral),
	// ecs.g7.4xlarge: docsGeneral line 117; ackDoc quotes the same 8 × 30.
	documented("ecs.g7.4xlarge", 8, 30, docsGeneral+"; "+ackDoc),
	documented("ecs.g7.6xlarge", 8, 30, docsGeneral),
	documented("ecs.g7.8xlarge", 8, 30, docsGeneral),

	// g6, general purpose (docsGeneral, lines 463-469).
	{Name: "ecs.g6.large", ENIs: 2, IPv4PerENI: 6, // docsGeneral line 463; apiSample agrees
		TotalENIs: 2, TrunkSupported: false, // apiSample only: unverified
		Source:     docsGeneral + "; " + apiSample,
		Unverified: []string{FieldTotalENIs, FieldTrunkSupported}},
	// ecs.g6.xlarge: docsGeneral line 464; terwayDesign agrees on 3 ENIs.
	documented("ecs.g6.xlarge", 3, 10, docsGeneral+"; "+terwayDesign),
	documented("ecs.g6.2xlarge", 4, 10, docsGeneral),
	documented("ecs.g6.3xlarge", 6, 10, docsGeneral),
	documented("ecs.g6.4xlarge", 8, 20, docsGeneral),
	documented("ecs.g6.6xlarge", 8, 20, docsGeneral),
	documented("ecs.g6.8xlarge", 8, 20, docsGeneral),

	// g8i, general purpose: nothing sourced (see g8iGuess).
	guessed("ecs.g8i.large", 3, 6, g8iGuess),
	guessed("ecs.g8i.xlarge", 4, 15, g8iGuess),
	guessed("ecs.g8i.2xlarge", 4, 15, g8iGuess),
	guessed("ecs.g8i.3xlarge", 8, 15, g8iGuess),
	guessed("ecs.g8i.4xlarge", 8, 30, g8iGuess),
	guessed("ecs.g8i.6xlarge", 8, 30, g8iGuess),
	guessed("ecs.g8i.8xlarge", 8, 30, g8iGuess),

	// c7, compute optimized (docsCompute, lines 112-118).
	documented("ecs.c7.large", 3, 6, docsCompute),
	documented("ecs.c7.xlarge", 4, 15, docsCompute),
	documented("ecs.c7.2xlarge", 4, 15, docsCompute),
	documented("ecs.c7.3xlarge", 8, 15, docsCompute),
	documented("ecs.c7.4xlarge", 8, 30, docsCompute),
	documented("ecs.c7.6xlarge", 8, 30, docsCompute),
	documented("ecs.c7.8xlarge", 8, 30, docsCompute),

	// c6, compute optimized (docsCompute, lines 368-374).
	documented("ecs.c6.large", 2, 6, docsCompute),
	documented("ecs.c6.xlarge", 3, 10, docsCompute),
	documented("ecs.c6.2xlarge", 4, 10, docsCompute),
	documented("ecs.c6.3xlarge", 6, 10, docsCompute),
	documented("ecs.c6.4xlarge", 8, 20, docsCompute),
	documented("ecs.c6.6xlarge", 8, 20, docsCompute),
	documented("ecs.c6.8xlarge", 8, 20, docsCompute),

	// r7, memory optimized (docsMemory, lines 107-113).
	documented("ecs.r7.large", 3, 6, docsMemory),
	documented("ecs.r7.xlarge", 4, 15, docsMemory),
	documented("ecs.r7.2xlarge", 4, 15, docsMemory),
	documented("ecs.r7.3xlarge", 8, 15, docsMemory),
	documented("ecs.r7.4xlarge", 8, 30, docsMemory),
	documented("ecs.r7.6xlarge", 8, 30, docsMemory),
	documented("ecs.r7.8xlarge", 8, 30, docsMemory),

	// r6, memory optimized (docsMemory, lines 362-368).
	documented("ecs.r6.large", 2, 6, docsMemory),
	documented("ecs.r6.xlarge", 3, 10, docsMemory),
	documented("ecs.r6.2xlarge", 4, 10, docsMemory),
	documented("ecs.r6.3xlarge", 6, 10, docsMemory),
	documented("ecs.r6.4xlarge", 8, 20, docsMemory),
	documented("ecs.r6.6xlarge", 8, 20, docsMemory),
	documented("ecs.r6.8xlarge", 8, 20, docsMemory),
}
