//! The differences the API shape test tolerates between the published (old) samples and the
//! current server's encoding, each with its reason. Shared by the job, allocation and
//! allocation-list comparisons.

use crate::support::shape::Rules;

/// Fields of TaskState/TaskEvent and the job structs that differ between the old samples
/// and the current server (FIELDS.md), shared by every rule set below.
pub fn task_state_rules(prefix: &str, rules: &mut Rules) {
    rules
        .map(format!("{prefix}TaskStates"))
        .map(format!("{prefix}TaskStates.*.Events[].Details"))
        .sample_only(
            format!("{prefix}TaskStates.*.TaskHandle"),
            "removed from TaskState in Jan 2025 (47c14ddf28)",
        )
        .sim_only(
            format!("{prefix}TaskStates.*.Paused"),
            "TaskState field of current servers",
        );
    for f in ["Details", "DisplayMessage", "GenericSource"] {
        rules.sim_only(
            format!("{prefix}TaskStates.*.Events[].{f}"),
            "TaskEvent field added after the 2017 sample",
        );
    }
}

pub fn job_rules(prefix: &str, rules: &mut Rules) {
    for m in [
        "Meta",
        "TaskGroups[].Meta",
        "TaskGroups[].Tasks[].Meta",
        "TaskGroups[].Tasks[].Env",
    ] {
        rules.map(format!("{prefix}{m}"));
    }
    for n in [
        "TaskGroups[].MaxClientDisconnect",
        "TaskGroups[].ShutdownDelay",
        "TaskGroups[].StopAfterClientDisconnect",
    ] {
        rules.nullable(format!("{prefix}{n}"));
    }
    let omitted = "empty here; NetworkResource and Port have struct-level omitempty (FIELDS.md)";
    for f in [
        "CIDR",
        "DNS",
        "Device",
        "DynamicPorts[].To",
        "DynamicPorts[].Value",
        "IP",
        "MBits",
        "ReservedPorts",
    ] {
        rules.sample_only(format!("{prefix}TaskGroups[].Networks[].{f}"), omitted);
    }
    // Driver config is free-form (docker's in the samples, raw_exec's here).
    rules.opaque(format!("{prefix}TaskGroups[].Tasks[].Config"));
    let newer = "field of the current server's structs (FIELDS.md), absent from the old sample";
    for f in [
        "Affinities",
        "ConsulNamespace",
        "Namespace",
        "DispatchIdempotencyToken",
        "Dispatched",
        "Multiregion",
        "NomadTokenID",
        "NodePool",
        "Spreads",
        "Stable",
        "Stop",
        "SubmitTime",
        "UI",
        "VaultNamespace",
        "Version",
        "VersionTag",
        "Update.AutoPromote",
        "Update.AutoRevert",
        "Update.Canary",
        "Update.HealthCheck",
        "Update.HealthyDeadline",
        "Update.MinHealthyTime",
        "Update.ProgressDeadline",
        "TaskGroups[].Affinities",
        "TaskGroups[].Tasks[].Affinities",
        "TaskGroups[].Consul",
        "TaskGroups[].Disconnect",
        "TaskGroups[].MaxClientDisconnect",
        "TaskGroups[].Migrate",
        "TaskGroups[].Networks",
        "TaskGroups[].PreventRescheduleOnLost",
        "TaskGroups[].ReschedulePolicy",
        "TaskGroups[].Scaling",
        "TaskGroups[].Services",
        "TaskGroups[].ShutdownDelay",
        "TaskGroups[].Spreads",
        "TaskGroups[].StopAfterClientDisconnect",
        "TaskGroups[].Update",
        "TaskGroups[].Volumes",
        "TaskGroups[].RestartPolicy.RenderTemplates",
        "TaskGroups[].Tasks[].RestartPolicy.RenderTemplates",
        "TaskGroups[].Tasks[].LogConfig.Disabled",
        "TaskGroups[].Tasks[].Resources.Cores",
        "TaskGroups[].Tasks[].Resources.Devices",
        "TaskGroups[].Tasks[].Resources.IOPS",
        "TaskGroups[].Tasks[].Resources.MemoryMaxMB",
        "TaskGroups[].Tasks[].Resources.NUMA",
        "TaskGroups[].Tasks[].Resources.SecretsMB",
        "TaskGroups[].Tasks[].Actions",
        "TaskGroups[].Tasks[].CSIPluginConfig",
        "TaskGroups[].Tasks[].Consul",
        "TaskGroups[].Tasks[].Identities",
        "TaskGroups[].Tasks[].Identity",
        "TaskGroups[].Tasks[].KillSignal",
        "TaskGroups[].Tasks[].Kind",
        "TaskGroups[].Tasks[].RestartPolicy",
        "TaskGroups[].Tasks[].ScalingPolicies",
        "TaskGroups[].Tasks[].Schedule",
        "TaskGroups[].Tasks[].ShutdownDelay",
        "TaskGroups[].Tasks[].VolumeMounts",
        "TaskGroups[].Tasks[].Templates[].ChangeScript",
        "TaskGroups[].Tasks[].Templates[].Envvars",
        "TaskGroups[].Tasks[].Templates[].ErrMissingKey",
        "TaskGroups[].Tasks[].Templates[].Gid",
        "TaskGroups[].Tasks[].Templates[].LeftDelim",
        "TaskGroups[].Tasks[].Templates[].Once",
        "TaskGroups[].Tasks[].Templates[].RightDelim",
        "TaskGroups[].Tasks[].Templates[].Uid",
        "TaskGroups[].Tasks[].Templates[].VaultGrace",
        "TaskGroups[].Tasks[].Templates[].Wait",
        "TaskGroups[].Tasks[].Services[].Address",
        "TaskGroups[].Tasks[].Services[].AddressMode",
        "TaskGroups[].Tasks[].Services[].CanaryMeta",
        "TaskGroups[].Tasks[].Services[].CanaryTags",
        "TaskGroups[].Tasks[].Services[].Cluster",
        "TaskGroups[].Tasks[].Services[].Connect",
        "TaskGroups[].Tasks[].Services[].EnableTagOverride",
        "TaskGroups[].Tasks[].Services[].Identity",
        "TaskGroups[].Tasks[].Services[].Kind",
        "TaskGroups[].Tasks[].Services[].Meta",
        "TaskGroups[].Tasks[].Services[].Namespace",
        "TaskGroups[].Tasks[].Services[].OnUpdate",
        "TaskGroups[].Tasks[].Services[].Provider",
        "TaskGroups[].Tasks[].Services[].TaggedAddresses",
        "TaskGroups[].Tasks[].Services[].TaskName",
        "TaskGroups[].Tasks[].Services[].Weights",
        "TaskGroups[].Tasks[].Services[].Checks[].AddressMode",
        "TaskGroups[].Tasks[].Services[].Checks[].Body",
        "TaskGroups[].Tasks[].Services[].Checks[].CheckRestart",
        "TaskGroups[].Tasks[].Services[].Checks[].Expose",
        "TaskGroups[].Tasks[].Services[].Checks[].FailuresBeforeCritical",
        "TaskGroups[].Tasks[].Services[].Checks[].FailuresBeforeWarning",
        "TaskGroups[].Tasks[].Services[].Checks[].GRPCService",
        "TaskGroups[].Tasks[].Services[].Checks[].GRPCUseTLS",
        "TaskGroups[].Tasks[].Services[].Checks[].Header",
        "TaskGroups[].Tasks[].Services[].Checks[].Method",
        "TaskGroups[].Tasks[].Services[].Checks[].Notes",
        "TaskGroups[].Tasks[].Services[].Checks[].OnUpdate",
        "TaskGroups[].Tasks[].Services[].Checks[].SuccessBeforePassing",
        "TaskGroups[].Tasks[].Services[].Checks[].TLSServerName",
        "TaskGroups[].Tasks[].Services[].Checks[].TLSSkipVerify",
        "TaskGroups[].Tasks[].Services[].Checks[].TaskName",
    ] {
        rules.sim_only(format!("{prefix}{f}"), newer);
    }
    let unused = "jobspec feature the simulated job does not use (Go omits nothing: the \
                  simulator would send null/zero, the sample shows a configured value)";
    for f in [
        "TaskGroups[].Tasks[].Artifacts",
        "TaskGroups[].Tasks[].DispatchPayload",
        "TaskGroups[].Tasks[].Lifecycle",
    ] {
        rules.sim_only(format!("{prefix}{f}"), unused);
    }
    let removed = "removed from the current server's structs";
    for f in ["VaultToken", "TaskGroups[].Tasks[].Spreads"] {
        rules.sample_only(format!("{prefix}{f}"), removed);
    }
}

pub fn full_alloc_rules(prefix: &str) -> Rules {
    let mut rules = Rules::default();
    for m in [
        "Metrics.NodesAvailable",
        "Metrics.Scores",
        "AllocatedResources.Tasks",
        "AllocatedResources.TaskLifecycles",
    ] {
        rules.map(format!("{prefix}{m}"));
    }
    task_state_rules(prefix, &mut rules);
    job_rules(&format!("{prefix}Job."), &mut rules);
    let empty = "empty in this allocation: Allocation has struct-level omitempty (FIELDS.md)";
    for f in [
        "PreviousAllocation",
        "NextAllocation",
        "RescheduleTracker",
        "DesiredDescription",
        "ClientDescription",
        "DeploymentID",
        "DeploymentStatus",
        "FollowupEvalID",
        "DesiredTransition",
    ] {
        rules.sample_only(format!("{prefix}{f}"), empty);
    }
    let legacy = "pre-0.9 resources, no longer set by the scheduler (AllocatedResources is)";
    for f in ["Resources", "SharedResources", "TaskResources"] {
        rules.sample_only(format!("{prefix}{f}"), legacy);
    }
    let newer = "Allocation field of the current server (FIELDS.md)";
    for f in [
        "AllocatedResources",
        "Namespace",
        "NodeName",
        "SigningKeyID",
        "Metrics.QuotaExhausted",
        "Metrics.ResourcesExhausted",
        "Metrics.ScoreMetaData",
    ] {
        rules.sim_only(format!("{prefix}{f}"), newer);
    }
    rules
}
