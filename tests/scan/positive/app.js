const key = "@@stripe@@";
const GITHUB_TOKEN='@@ghp@@';
