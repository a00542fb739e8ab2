// Node-RED settings for the benchmark peer (issue 7): no editor, no HTTP nodes, the flow in
// flows.json, `pg` handed to the function node through the global context (the usual way
// to use an npm module from a function node without installing it at run time).
module.exports = {
    flowFile: "flows.json",
    credentialSecret: false,
    uiPort: Number(process.env.NODE_RED_PORT || 0),
    httpAdminRoot: false,
    httpNodeRoot: false,
    functionGlobalContext: { pg: require("pg") },
    logging: { console: { level: "info", metrics: false, audit: false } },
    editorTheme: { projects: { enabled: false } },
};
