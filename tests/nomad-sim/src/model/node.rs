//! A simulated client node and its JSON forms: `Node` (`GET /v1/node/:id`), `NodeListStub`
//! (`GET /v1/nodes`) and the agent's `/v1/agent/self`.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::clock::rfc3339_nano;

pub const NOMAD_VERSION: &str = "1.11.2";

#[derive(Debug, Clone)]
pub struct NodeEvent {
    pub message: String,
    pub subsystem: String,
    pub timestamp: i64,
    pub create_index: u64,
}

#[derive(Debug, Clone)]
pub struct Node {
    pub id: String,
    pub name: String,
    pub datacenter: String,
    pub region: String,
    /// `127.0.0.1:<port>` of this node's agent API.
    pub http_addr: String,
    /// `<data-dir>/<node name>`.
    pub data_dir: PathBuf,
    /// `ready` or `down`.
    pub status: String,
    /// Unix seconds.
    pub status_updated_at: i64,
    pub events: Vec<NodeEvent>,
    pub create_index: u64,
    pub modify_index: u64,
}

impl Node {
    pub fn alloc_dir(&self) -> PathBuf {
        self.data_dir.join("alloc")
    }

    fn attributes(&self) -> Value {
        json!({
            "cpu.arch": "amd64",
            "cpu.numcores": "2",
            "driver.raw_exec": "1",
            "kernel.name": "linux",
            "nomad.version": NOMAD_VERSION,
            "os.name": "debian",
            "unique.advertise.address": self.http_addr,
            "unique.hostname": self.name,
            "unique.network.ip-address": "127.0.0.1",
        })
    }

    fn drivers(&self) -> Value {
        json!({
            "raw_exec": {
                "Attributes": {"driver.raw_exec": "true"},
                "Detected": true,
                "HealthDescription": "Healthy",
                "Healthy": true,
                "UpdateTime": rfc3339_nano(self.status_updated_at * 1_000_000_000),
            }
        })
    }

    /// `GET /v1/node/:id` (sanitized: empty SecretID, plus the legacy `Drain` bool).
    pub fn to_full_json(&self) -> Value {
        let events: Vec<Value> = self
            .events
            .iter()
            .map(|e| {
                json!({"CreateIndex": e.create_index, "Details": null, "Message": e.message,
                       "Subsystem": e.subsystem, "Timestamp": rfc3339_nano(e.timestamp)})
            })
            .collect();
        json!({
            "Attributes": self.attributes(),
            "CSIControllerPlugins": null,
            "CSINodePlugins": null,
            "CgroupParent": "",
            "ComputedClass": "v1:1234567890",
            "CreateIndex": self.create_index,
            "Datacenter": self.datacenter,
            "Drain": false,
            "DrainStrategy": null,
            "Drivers": self.drivers(),
            "Events": events,
            "HTTPAddr": self.http_addr,
            "HostNetworks": null,
            "HostVolumes": null,
            "ID": self.id,
            "LastDrain": null,
            "Links": null,
            "Meta": {},
            "ModifyIndex": self.modify_index,
            "Name": self.name,
            "NodeClass": "",
            "NodePool": "default",
            "NodeResources": {
                "Cpu": {"CpuShares": 4000},
                "Devices": null,
                "Disk": {"DiskMB": 10_000},
                "Memory": {"MemoryMB": 8192},
                "Networks": [{"CIDR": "127.0.0.1/32", "Device": "lo", "IP": "127.0.0.1",
                              "MBits": 1000, "Mode": "host"}],
                "NodeNetworks": [{"Addresses": [{"Address": "127.0.0.1", "Alias": "default",
                    "Family": "ipv4", "Gateway": "", "ReservedPorts": ""}],
                    "Device": "lo", "MacAddress": "00:00:00:00:00:00", "Mode": "host"}],
            },
            "ReservedResources": {
                "Cpu": {"CpuShares": 0},
                "Disk": {"DiskMB": 0},
                "Memory": {"MemoryMB": 0},
                "Networks": {"ReservedHostPorts": ""},
            },
            "SchedulingEligibility": "eligible",
            "SecretID": "",
            "Status": self.status,
            "StatusDescription": "",
            "StatusUpdatedAt": self.status_updated_at,
            "TLSEnabled": false,
        })
    }

    /// `NodeListStub`; `Attributes` only with `?os=true`.
    pub fn to_stub_json(&self, with_os: bool) -> Value {
        let mut stub = json!({
            "Address": "127.0.0.1",
            "CreateIndex": self.create_index,
            "Datacenter": self.datacenter,
            "Drain": false,
            "Drivers": self.drivers(),
            "HostVolumes": null,
            "ID": self.id,
            "LastDrain": null,
            "ModifyIndex": self.modify_index,
            "Name": self.name,
            "NodeClass": "",
            "NodePool": "default",
            "SchedulingEligibility": "eligible",
            "Status": self.status,
            "StatusDescription": "",
            "Version": NOMAD_VERSION,
        });
        if with_os {
            stub["Attributes"] = json!({
                "os.name": "debian",
                "kernel.name": "linux",
            });
        }
        stub
    }

    /// `GET /v1/agent/self` on this node's port: a client+server dev-style agent.
    pub fn agent_self(&self, consul_addr: &str, num_allocs: usize) -> Value {
        let (host, port) = self
            .http_addr
            .split_once(':')
            .unwrap_or(("127.0.0.1", "4646"));
        json!({
            "config": {
                "Addresses": {"HTTP": host, "RPC": host, "Serf": host},
                "AdvertiseAddrs": {"HTTP": self.http_addr, "RPC": format!("{host}:4647"),
                                   "Serf": format!("{host}:4648")},
                "BindAddr": host,
                "Client": {
                    "AllocDir": self.alloc_dir().display().to_string(),
                    "ChrootEnv": {},
                    "ClientMaxPort": 32000,
                    "ClientMinPort": 20000,
                    "Enabled": true,
                    "MaxKillTimeout": "30s",
                    "Meta": {},
                    "NetworkInterface": "lo",
                    "NodeClass": "",
                    "Options": {},
                    "Servers": null,
                    "StateDir": self.data_dir.join("client").display().to_string(),
                },
                "Consuls": [{"Name": "default", "Addr": consul_addr, "Timeout": 5_000_000_000_i64,
                             "ClientAutoJoin": true, "ServerAutoJoin": true}],
                "DataDir": self.data_dir.display().to_string(),
                "Datacenter": self.datacenter,
                "DevMode": false,
                "EnableDebug": false,
                "LogLevel": "INFO",
                "NodeName": self.name,
                "Ports": {"HTTP": port.parse::<u16>().unwrap_or(4646), "RPC": 4647, "Serf": 4648},
                "Region": self.region,
                "Server": {"Enabled": true, "BootstrapExpect": 1, "DataDir": ""},
                "Version": {"Revision": "nomad-sim", "Version": NOMAD_VERSION,
                            "VersionMetadata": "", "VersionPrerelease": ""},
            },
            "member": {
                "Addr": host,
                "DelegateCur": 4, "DelegateMax": 5, "DelegateMin": 2,
                "Name": format!("{}.{}", self.name, self.region),
                "Port": 4648,
                "ProtocolCur": 2, "ProtocolMax": 5, "ProtocolMin": 1,
                "Status": "alive",
                "Tags": {"role": "nomad", "region": self.region, "dc": self.datacenter,
                         "build": NOMAD_VERSION, "port": "4647"},
            },
            "stats": {
                "client": {
                    "heartbeat_ttl": "15s",
                    "known_servers": "127.0.0.1:4647",
                    "last_heartbeat": "1s",
                    "node_id": self.id,
                    "num_allocations": num_allocs.to_string(),
                },
                "nomad": {"server": "true", "leader": "true", "bootstrap": "true",
                          "known_regions": "1", "leader_addr": "127.0.0.1:4647"},
                "runtime": {"arch": "amd64", "kernel.name": "linux", "version": "go1.24",
                            "cpu_count": "2", "goroutines": "100", "max_procs": "2"},
            },
        })
    }
}
