//! One namespace visited: opened the first time and entered, its capture brought in line
//! with its interfaces, its addresses read and its owner's pod looked up.

use super::*;

impl NodeThread {
    /// Opens (first time) and enters namespace `id`, brings its capture in line with its
    /// interfaces and reads its addresses.
    pub(super) fn visit(&mut self, id: u64, path: PathBuf, sandbox: &Sandbox) -> io::Result<()> {
        let now = Instant::now();
        if self.failing.get(&id).is_some_and(|f| f.next > now) {
            return Ok(());
        }
        if !self.pods.contains_key(&id) {
            let proc_link = self.cfg.scan_processes && path.starts_with(&self.cfg.proc_dir);
            match discover::open(self.nsfs, &path, id, proc_link) {
                Ok(file) => {
                    let capture = NamespaceCapture::new(
                        id,
                        path.display().to_string(),
                        self.cfg.pod_interfaces.clone(),
                        self.sink.clone(),
                    )
                    .ring_bytes(usize::try_from(self.cfg.ring_bytes).unwrap_or(usize::MAX));
                    self.pods.insert(
                        id,
                        PodNamespace {
                            path: path.clone(),
                            file,
                            capture,
                            links: Vec::new(),
                            capped: false,
                            group: self.free_groups.pop(),
                            flooded: false,
                        },
                    );
                    self.stats.namespaces_added.fetch_add(1, Relaxed);
                }
                Err(e) => {
                    self.failed(id, &path, "cannot open the network namespace", &e);
                    return Ok(());
                }
            }
        }
        let ns = self.pods.get_mut(&id).expect("inserted above");
        if let Err(e) = move_into_link_name_space(ns.file.as_fd(), Some(LinkNameSpaceType::Network))
        {
            let path = ns.path.clone();
            let what = if e == rustix::io::Errno::PERM {
                "cannot enter the network namespace (setns needs CAP_SYS_ADMIN)"
            } else {
                "cannot enter the network namespace"
            };
            self.failed(id, &path, what, &e.into());
            return Ok(());
        }
        let seen = netlink::links().and_then(|l| Ok((l, netlink::addresses()?)));
        if let Ok((all, _)) = &seen {
            let mut links: Vec<Link> = all.iter().map(Link::from).collect();
            let max = self.cfg.max_interfaces_per_namespace;
            let left_out = if self.cfg.pod_interfaces.is_empty() {
                cap_interfaces(&mut links, max)
            } else {
                0
            };
            if left_out > 0 && !ns.capped {
                self.stats.interface_limit_hits.fetch_add(1, Relaxed);
                tracing::warn!(netns = %ns.path.display(), pod = %format!("{}/{}", sandbox.namespace, sandbox.name), max, left_out, "too many interfaces in this pod namespace: only the first node.max_interfaces_per_namespace are captured");
            }
            ns.capped = left_out > 0;
            // Each interface's point is in the namespace's group before its ring opens.
            for link in &links {
                let captured = if self.cfg.pod_interfaces.is_empty() {
                    link.up && !link.loopback && !link.skip
                } else {
                    self.cfg.pod_interfaces.contains(&link.name)
                };
                if let Some(point) = captured
                    .then(|| self.sink.registry.point_in(id, &link.name))
                    .flatten()
                {
                    self.sink.table.groups().assign(point, ns.group);
                }
            }
            ns.capture.reconcile(&links);
            if let Some(group) = ns.group.filter(|_| !ns.flooded) {
                let refused = self.sink.table.groups().refused(group);
                if refused > 0 {
                    ns.flooded = true;
                    self.stats.flow_share_hits.fetch_add(1, Relaxed);
                    let max = self.sink.table.groups().share();
                    tracing::warn!(netns = %ns.path.display(), pod = %format!("{}/{}", sandbox.namespace, sandbox.name), max, refused, "this pod namespace holds its share of the flow table: its new flows are not metered until some of its flows end");
                }
            }
        }
        // Back home before anything else: every other namespace is entered from here.
        move_into_link_name_space(self.home.as_fd(), Some(LinkNameSpaceType::Network))?;
        match seen {
            Ok((all, addrs)) => {
                let addrs = addresses_on(&all, &ns.capture.captured(), addrs);
                ns.links = all;
                let path = ns.path.clone();
                self.failing.remove(&id);
                self.update_view(id, path, addrs, sandbox);
            }
            Err(e) => {
                let path = ns.path.clone();
                self.failed(
                    id,
                    &path,
                    "cannot list the interfaces of the network namespace",
                    &e,
                );
            }
        }
        Ok(())
    }

    /// Records the namespace's addresses and its owner, the sandbox's pod, and looks that
    /// pod up in the index (by namespace and name, checking the UID); a namespace keeps the
    /// pod it was resolved to after the pod leaves the index.
    pub(super) fn update_view(
        &mut self,
        id: u64,
        path: PathBuf,
        addrs: Vec<std::net::IpAddr>,
        sandbox: &Sandbox,
    ) {
        let pod = {
            let index = self.index.read().unwrap_or_else(PoisonError::into_inner);
            index
                .by_name(&sandbox.namespace, &sandbox.name)
                .filter(|p| p.pod.uid == sandbox.uid)
                .cloned()
        };
        let mut views = self.views.write().unwrap_or_else(PoisonError::into_inner);
        let view = views.entry(id).or_default();
        let first = view.owner.is_none();
        let indexed = view.pod.is_some();
        view.path = path;
        view.addrs = addrs;
        view.owner = Some(Owner {
            uid: sandbox.uid.clone(),
            name: sandbox.name.clone(),
            namespace: sandbox.namespace.clone(),
        });
        if pod.is_some() {
            view.pod = pod;
        }
        if first || indexed != view.pod.is_some() {
            tracing::info!(
                netns = %view.path.display(),
                pod = %format!("{}/{}", sandbox.namespace, sandbox.name),
                uid = %sandbox.uid,
                in_index = view.pod.is_some(),
                addresses = ?view.addrs,
                "capturing pod namespace"
            );
        }
    }
}
