// Every test file is measured against the library sources only.
export default () => ['lib/**/*.ts']
