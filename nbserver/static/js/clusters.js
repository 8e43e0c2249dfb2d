// The dashboard's Clusters tab: each IPython profile's parallel cluster (/api/clusters), its
// status and engine count, with Start (n engines, default the server's cores) and Stop.

import { ApiError, request, url } from "./api.js";
import { el, toast } from "./ui.js";

const list = document.getElementById("cluster-list");

function clusterUrl(profile, action = "") {
  return url("api/clusters", profile) + (action ? `/${action}` : "");
}

async function act(cluster, action, n) {
  try {
    const body = action === "start" && n ? { n } : undefined;
    const model = await request("POST", clusterUrl(cluster.profile, action), body);
    toast(model.status === "running" ? `Started ${model.n} engines for ${model.profile}` : `Stopped ${model.profile}`);
  } catch (error) {
    toast(error.message, "error", 6);
  }
  await refresh();
}

function clusterRow(cluster) {
  const running = cluster.status === "running";
  const count = el("input", { type: "number", min: 1, class: "cluster-n", "aria-label": `Engines for ${cluster.profile}`,
    placeholder: "cores", hidden: running });
  const button = el("button", { type: "button", class: `button small${running ? " danger" : ""}`,
    dataset: { action: running ? "stop" : "start" }, text: running ? "Stop" : "Start" });
  button.addEventListener("click", () => {
    button.disabled = true;
    button.textContent = running ? "Stopping…" : "Starting…";
    act(cluster, running ? "stop" : "start", count.value ? Number(count.value) : null);
  });
  return el("li", { dataset: { profile: cluster.profile, status: cluster.status } },
    el("span", { class: "name" }, el("span", { text: cluster.profile })),
    el("span", { class: `badge${running ? " running" : ""}`, text: running ? "running" : "stopped" }),
    el("span", { class: "state cluster-engines", text: running ? `${cluster.n} engines` : "" }),
    count, button);
}

export async function refresh() {
  try {
    const clusters = await request("GET", url("api/clusters"));
    list.replaceChildren(...clusters.map(clusterRow));
  } catch (error) {
    const text = error instanceof ApiError && error.status === 501 ? error.message : `Cannot list clusters: ${error.message}`;
    list.replaceChildren(el("li", { class: "empty", text }));
  }
}

document.querySelector(".tab[data-tab='clusters']")?.addEventListener("click", refresh);
