//! Who owns a namespace: the container runtime's sandboxes, asked again while a namespace
//! is pending, and the namespaces no sandbox owns, counted and logged once.

use super::*;

impl NodeThread {
    /// Reads the runtime's pod sandboxes; while it does not answer, the last answer stands
    /// (namespaces already captured go on, new ones wait), and readiness says why.
    pub(super) fn ask_runtime(&mut self) {
        let Some(runtime) = &mut self.runtime else {
            return;
        };
        let answer = runtime.sandboxes();
        let mut problem = self
            .stats
            .runtime_problem
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match answer {
            Ok(sandboxes) => {
                if problem.take().is_some() {
                    tracing::info!(socket = %runtime.path().display(), sandboxes = sandboxes.len(), "the container runtime answers again");
                }
                self.sandboxes = sandboxes;
            }
            Err(e) => {
                let text = format!("{e}; no new pod namespace is captured until it answers");
                if problem.as_deref() != Some(text.as_str()) {
                    tracing::error!(error = %e, "cannot read the pod sandboxes from the container runtime; no new pod namespace is captured until it answers, and no namespace is ever attributed by its addresses");
                    *problem = Some(text.into());
                }
            }
        }
    }

    /// Counts the namespaces found that no sandbox of the runtime owns, and logs each once.
    /// A namespace is pending first: the runtime makes it before it names the sandbox
    /// (RunPodSandbox returns after the CNI step), so it is asked again every
    /// [`PENDING_RECHECK`] for `node.unowned_after_secs`, and while the runtime does not
    /// answer at all, before the namespace is called unowned.
    pub(super) fn note_unknown(
        &mut self,
        found: &BTreeMap<u64, PathBuf>,
        owned: &BTreeMap<u64, (PathBuf, Sandbox)>,
    ) {
        let now = Instant::now();
        let wait = Duration::from_secs(self.cfg.unowned_after_secs);
        let runtime_answers = self
            .stats
            .runtime_problem
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none();
        for (id, path) in found.iter().filter(|(id, _)| !owned.contains_key(id)) {
            let (since, unowned) = self.unknown.entry(*id).or_insert((now, false));
            if !*unowned && runtime_answers && now.duration_since(*since) >= wait {
                *unowned = true;
                self.stats.namespaces_refused.fetch_add(1, Relaxed);
                tracing::warn!(netns = %path.display(), waited_secs = wait.as_secs(), "not capturing a network namespace that no pod sandbox of the container runtime owns");
            }
            if !runtime_answers {
                // Its wait starts when the runtime answers again.
                *since = now;
            }
        }
        self.unknown
            .retain(|id, _| found.contains_key(id) && !owned.contains_key(id));
        let unowned = self.unknown.values().filter(|(_, u)| *u).count();
        self.stats.namespaces_unknown.store(unowned, Relaxed);
    }
}
