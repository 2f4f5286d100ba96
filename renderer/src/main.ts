import { createPinia } from 'pinia'
import { createApp } from 'vue'
import App from './App.vue'
import { createApi } from './api'
import { useTasksStore } from './stores/tasks'
import './style.css'

const app = createApp(App)
app.use(createPinia())
useTasksStore().connect(createApi())
app.mount('#app')
