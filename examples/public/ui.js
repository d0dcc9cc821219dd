// The example's browser side. The session cookie is HttpOnly: this script never sees the token.
// It reads the CSRF token from the readable companion cookie and sends it back in a header on
// every unsafe request, as docs/cookie-sessions.md describes.
const CSRF_COOKIE = 'session-csrf'

const $ = (selector) => document.querySelector(selector)

function csrfToken () {
  const entry = document.cookie.split('; ').find((cookie) => cookie.startsWith(`${CSRF_COOKIE}=`))
  return entry === undefined ? null : decodeURIComponent(entry.slice(CSRF_COOKIE.length + 1))
}

async function api (method, path, body) {
  const headers = { accept: 'application/json' }
  if (body !== undefined) headers['content-type'] = 'application/json'
  const csrf = csrfToken()
  if (csrf !== null && method !== 'GET') headers['x-csrf-token'] = csrf
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  return { status: response.status, body: await response.json() }
}

function say (text) {
  $('#message').textContent = text
}

async function render () {
  const { body: session } = await api('GET', '/session')
  $('#login').hidden = session.userid !== null
  $('#session').hidden = session.userid === null
  if (session.userid !== null) {
    $('#who').textContent = `Signed in as ${session.name} (${session.userid})`
    $('#permissions').replaceChildren(...Object.entries(session.permissions).map(([permission, allowed]) => {
      const item = document.createElement('li')
      item.className = allowed ? 'allowed' : 'denied'
      item.dataset.permission = permission
      item.textContent = `${permission}: ${allowed ? 'allowed' : 'denied'}`
      return item
    }))
  }
  const articles = await api('GET', '/articles')
  $('#articles').replaceChildren(...(articles.status === 200 ? articles.body : []).map((article) => {
    const item = document.createElement('li')
    item.textContent = `${article.title} (by ${article.author})`
    return item
  }))
  if (articles.status !== 200) $('#articles').textContent = 'Sign in with the view permission to read the articles.'
}

$('#login').addEventListener('submit', async (event) => {
  event.preventDefault()
  const form = new FormData(event.target)
  const { status } = await api('POST', '/session', { username: form.get('username'), password: form.get('password') })
  say(status === 200 ? 'Signed in.' : 'Unknown username or wrong password.')
  event.target.reset()
  await render()
})

$('#article').addEventListener('submit', async (event) => {
  event.preventDefault()
  const form = new FormData(event.target)
  const { status, body } = await api('POST', '/articles', { title: form.get('title') })
  say(status === 201 ? `Added article ${body.id}.` : `Refused (${status}): ${body.message}`)
  event.target.reset()
  await render()
})

$('#logout').addEventListener('click', async () => {
  await api('DELETE', '/session')
  say('Signed out.')
  await render()
})

$('#everywhere').addEventListener('click', async () => {
  const { status } = await api('POST', '/session/everywhere')
  say(status === 200 ? 'Signed out on every device.' : `Refused (${status}).`)
  await render()
})

render()
